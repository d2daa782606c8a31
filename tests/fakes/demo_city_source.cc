// Reading the demo city for the test doubles (see demo_city_source.h).
#include "tests/fakes/demo_city_source.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <vector>

#include "engine/demo/democity.h"

namespace ennakko {

namespace {

using json = nlohmann::ordered_json;

struct Batch {
  std::filesystem::path path;
  bool snapshot = false;
};

// The drop's batch files in number order (docs/population-file-drop.md).
Result<std::vector<Batch>> Batches(const std::string& dir) {
  std::error_code ec;
  std::vector<std::pair<std::string, Batch>> found;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const size_t digits = name.find_first_not_of("0123456789");
    if (digits < 6 || digits == std::string::npos) continue;
    const std::string rest = name.substr(digits);
    if (rest != ".snapshot.jsonl" && rest != ".changes.jsonl") continue;
    found.push_back({std::string(12 - std::min<size_t>(digits, 12), '0') + name,
                     Batch{e.path(), rest == ".snapshot.jsonl"}});
  }
  if (ec) return Status::Invalid(fmt::format("cannot read {}: {}", dir, ec.message()));
  if (found.empty()) return Status::Invalid(fmt::format("{}: no population batches", dir));
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Batch> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

// Calls f(record) for every line of `path` that is a JSON object with a henkilotunnus; counts the
// others in `skipped`.
template <typename F>
Status EachRecord(const std::filesystem::path& path, int& skipped, F f) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Invalid(fmt::format("cannot read {}", path.string()));
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json r = json::parse(line, nullptr, false);
    if (!r.is_object() || !r.contains("henkilotunnus") || !r["henkilotunnus"].is_string() ||
        !r.contains("tietoryhmat") || !r["tietoryhmat"].is_array()) {
      ++skipped;
      continue;
    }
    f(r);
  }
  return Status::Ok();
}

// "Koivukuja 12 A 3" -> katunimi, katunumero, huoneistokirjain, huoneistonumero (VTJ's parts);
// false when the text has another shape (then it is served as it is).
bool SplitStreet(const std::string& text, json& g) {
  std::istringstream in(text);
  std::vector<std::string> t;
  for (std::string w; in >> w;) t.push_back(w);
  auto digits = [](const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
  };
  if ((t.size() != 2 && t.size() != 4) || !digits(t[1])) return false;
  if (t.size() == 4 && (t[2].size() != 1 || !digits(t[3]) || t[3].size() > 3)) return false;
  g.erase("katuosoite");
  g["katunimi"] = json{{"fi", t[0]}};
  g["katunumero"] = t[1];
  if (t.size() == 4) {
    g["huoneistokirjain"] = t[2];
    g["huoneistonumero"] = std::string(3 - t[3].size(), '0') + t[3];
  }
  return true;
}

// One file-drop group in VTJ's shape; nullopt for the city's own registers' groups.
std::optional<json> VtjGroup(json g) {
  if (!g.is_object() || !g.contains("tietoryhma") || !g["tietoryhma"].is_string()) return g;
  const std::string name = g["tietoryhma"].get<std::string>();
  if (IsCityRegisterGroup(name)) return std::nullopt;
  if (name == "HENKILON_NIMI" && g.contains("etunimet")) {
    g["etunimi"] = g["etunimet"];
    g.erase("etunimet");
  } else if ((name == "HUOLTAJA_SUPPEA" || name == "HUOLLETTAVA_SUPPEA") && g.contains("henkilotunnus")) {
    g[name == "HUOLTAJA_SUPPEA" ? "huoltaja" : "huollettava"] =
        json{{"henkilotunnus", g["henkilotunnus"]}};
    g.erase("henkilotunnus");
  } else if (name == "VAKINAINEN_KOTIMAINEN_OSOITE") {
    if (g.contains("katuosoite") && g["katuosoite"].is_string()) {
      SplitStreet(g["katuosoite"].get<std::string>(), g);
    }
    if (g.contains("postitoimipaikka") && g["postitoimipaikka"].is_string()) {
      g["postitoimipaikka"] = json{{"fi", g["postitoimipaikka"]}};
    }
  }
  return g;
}

// FNV-1a: a stable hash of an identity code (the same amounts on every run and platform).
uint64_t Hash(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::optional<Date> DateOf(const json& g, const char* key) {
  if (!g.contains(key) || !g[key].is_object() || !g[key].contains("arvo") || !g[key]["arvo"].is_string()) {
    return std::nullopt;
  }
  return Date::Parse(g[key]["arvo"].get<std::string>());
}

}  // namespace

Result<VtjDemoData> VtjDataFromDemoCity(const std::string& dir) {
  auto batches = Batches(dir);
  if (!batches.ok()) return batches.status();
  VtjDemoData out;
  json persons = json::array(), changes = json::array();
  for (const Batch& b : *batches) {
    ENNAKKO_RETURN_IF_ERROR(EachRecord(b.path, out.skipped_lines, [&](json& r) {
      json groups = json::array();
      for (auto& g : r["tietoryhmat"]) {
        if (auto v = VtjGroup(std::move(g))) groups.push_back(std::move(*v));
      }
      if (groups.empty()) {
        ++out.skipped_lines;
        return;
      }
      json entry{{"henkilotunnus", r["henkilotunnus"]}};
      if (b.snapshot) {
        entry["tietoryhmat"] = std::move(groups);
        persons.push_back(std::move(entry));
      } else if (r.contains("muutospv") && r["muutospv"].is_string()) {
        entry["muutospv"] = r["muutospv"].get<std::string>().substr(0, 10) + "T06:00:00.000Z";
        entry["tietoryhmat"] = std::move(groups);
        changes.push_back(std::move(entry));
      } else {
        ++out.skipped_lines;
      }
    }));
  }
  out.persons = static_cast<int>(persons.size());
  out.changes = static_cast<int>(changes.size());
  out.henkilot = persons.dump();
  out.muutokset = changes.dump();
  return out;
}

Result<DemoEarnings> EarningsReportsFromDemoCity(const std::string& dir, Date today) {
  auto batches = Batches(dir);
  if (!batches.ok()) return batches.status();
  if (!batches->front().snapshot) return Status::Invalid(fmt::format("{}: no snapshot", dir));
  std::set<std::string> guardians;
  int skipped = 0;
  ENNAKKO_RETURN_IF_ERROR(EachRecord(batches->front().path, skipped, [&](json& r) {
    bool in_ecec = false;
    std::vector<std::string> of;
    for (const auto& g : r["tietoryhmat"]) {
      if (!g.is_object() || !g.contains("tietoryhma")) continue;
      if (g["tietoryhma"] == "SIJOITUS" && g.value("laji", "") == "varhaiskasvatus") {
        auto end = DateOf(g, "loppupv");
        in_ecec = in_ecec || !end || *end >= today;
      } else if (g["tietoryhma"] == "HUOLTAJA_SUPPEA") {
        const json* party = g.contains("huoltaja") ? &g["huoltaja"] : &g;
        if (party->contains("henkilotunnus") && (*party)["henkilotunnus"].is_string()) {
          of.push_back((*party)["henkilotunnus"].get<std::string>());
        }
      }
    }
    if (in_ecec) guardians.insert(of.begin(), of.end());
  }));

  // The previous calendar month; paid and received on its last day.
  const Date month_start = today.month() == 1 ? Date::FromYmd(today.year() - 1, 12, 1)
                                              : Date::FromYmd(today.year(), today.month() - 1, 1);
  const Date month_end{Date::FromYmd(today.year(), today.month(), 1).days - 1};
  DemoEarnings out;
  std::string xml = "<IncomesFakeData>";
  int n = 0;
  for (const std::string& code : guardians) {
    ++out.guardians;
    const uint64_t h = Hash(code);
    if (h % 10 == 0) continue;
    ++out.with_reports;
    const uint64_t euros = 1500 + (h / 10) % 6000;
    xml += fmt::format(
        "<DeliveryData><PaymentPeriod><PaymentDate>{1}</PaymentDate><StartDate>{0}</StartDate>"
        "<EndDate>{1}</EndDate></PaymentPeriod><Payer><PayerIds><Id>1234567-8</Id></PayerIds></Payer>"
        "<Reports><Report><ReportData><ActionCode>1</ActionCode><IRReportId>DEMO-{2:06d}</IRReportId>"
        "<ReportVersion>1</ReportVersion><ReceivedTimestamp>{1}T12:00:00.000Z</ReceivedTimestamp>"
        "</ReportData><IncomeEarner><IncomeEarnerIds><Id>{3}</Id></IncomeEarnerIds></IncomeEarner>"
        "<Transactions><Transaction><TransactionBasic><TransactionCode>201</TransactionCode>"
        "<Amount>{4}.00</Amount><OneOff>false</OneOff><Recovery>false</Recovery></TransactionBasic>"
        "</Transaction></Transactions></Report></Reports></DeliveryData>",
        month_start.ToString(), month_end.ToString(), ++n, code, euros);
  }
  out.xml = xml + "</IncomesFakeData>";
  return out;
}

}  // namespace ennakko
