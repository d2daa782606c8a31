// GenerateDemoCity and the change events of the demo city's change batches.
#include "engine/demo/democity.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/demo/democity_model.h"

namespace ennakko {

namespace demo {

namespace {

// Tries random households until one fits; -1 when none did in a bounded number of tries.
template <typename Fits>
int Pick(Rng& rng, std::vector<Household>& households, Fits fits) {
  for (int i = 0; i < 20000; ++i) {
    int h = static_cast<int>(rng.Below(households.size()));
    if (!households[static_cast<size_t>(h)].touched && fits(households[static_cast<size_t>(h)])) {
      households[static_cast<size_t>(h)].touched = true;
      return h;
    }
  }
  return -1;
}

}  // namespace

int DemoCityModel::PickHousehold(bool (*fits)(const DemoCityModel&, const Household&)) {
  return Pick(rng_, households_, [&](const Household& h) { return fits(*this, h); });
}

void DemoCityModel::Birth(Date day, std::vector<std::string>& out) {
  int h = PickHousehold([](const DemoCityModel& m, const Household& h) {
    if (h.place != 0 || h.adults[1] < 0) return false;
    const Person& parent = m.people_[static_cast<size_t>(h.adults[0])];
    return AgeAt(parent.birth, m.o_.today) <= 42;
  });
  if (h < 0) return;
  Household& home = households_[static_cast<size_t>(h)];
  const Person& parent = people_[static_cast<size_t>(home.adults[0])];
  const uint8_t family_name =
      home.children.empty() ? parent.last : people_[static_cast<size_t>(home.children[0])].last;
  const int baby = AddPerson(Date{day.days - rng_.Range(1, 7)}, rng_.Chance(4900), h, family_name);
  people_[static_cast<size_t>(baby)].resident_since = people_[static_cast<size_t>(baby)].birth;
  home.children.push_back(baby);
  // The child's own record first, then each guardian gains a ward.
  Json record = FullRecord(baby, "LISATTY", day);
  out.push_back(record.dump());
  const Person& child = people_[static_cast<size_t>(baby)];
  for (int a : home.adults) {
    Json r = Record(people_[static_cast<size_t>(a)], day);
    r["tietoryhmat"].push_back(
        CustodyGroup("HUOLLETTAVA_SUPPEA", child, child.birth, "LISATTY", std::nullopt));
    out.push_back(r.dump());
  }
  ++stats_.births;
}

void DemoCityModel::MoveOut(Date day, std::vector<std::string>& out) {
  int h = PickHousehold(
      [](const DemoCityModel&, const Household& h) { return h.place == 0 && !h.children.empty(); });
  if (h < 0) return;
  Household& home = households_[static_cast<size_t>(h)];
  home.place = 1;
  home.street = static_cast<int>(rng_.Below(32));
  home.number = rng_.Range(1, 120);
  home.postal_code = fmt::format("{}{:03d}", places_[1].postal_prefix, 10 * rng_.Range(10, 99));
  std::vector<int> members(home.children);
  for (int a : home.adults) {
    if (a >= 0) members.insert(members.begin(), a);
  }
  for (int m : members) {
    Person& p = people_[static_cast<size_t>(m)];
    if (p.dead) continue;
    p.resident_since = day;
    Json r = Record(p, day);
    Json kunta = Group("KOTIKUNTA", "MUUTETTU");
    kunta["kuntakoodi"] = places_[1].code;
    kunta["kuntaanMuuttopv"] = Json{{"arvo", day.ToString()}, {"tarkkuus", "PAIVA"}};
    r["tietoryhmat"].push_back(std::move(kunta));
    if (!home.address_protected) r["tietoryhmat"].push_back(AddressGroup(home, "MUUTETTU"));
    out.push_back(r.dump());
    ++stats_.moved_out;
  }
}

void DemoCityModel::Death(Date day, std::vector<std::string>& out) {
  int h = PickHousehold([](const DemoCityModel& m, const Household& h) {
    return h.children.empty() && h.adults[1] < 0 &&
           AgeAt(m.people_[static_cast<size_t>(h.adults[0])].birth, m.o_.today) >= 80;
  });
  if (h < 0) return;
  Person& p = people_[static_cast<size_t>(households_[static_cast<size_t>(h)].adults[0])];
  p.dead = true;
  Json r = Record(p, day);
  Json g = Group("KUOLINPAIVA", "LISATTY");
  g["kuolinpv"] = Json{{"arvo", Date{day.days - 1}.ToString()}, {"tarkkuus", "PAIVA"}};
  r["tietoryhmat"].push_back(std::move(g));
  out.push_back(r.dump());
  ++stats_.deaths;
}

void DemoCityModel::EndCustody(Date day, std::vector<std::string>& out) {
  int h = PickHousehold([](const DemoCityModel&, const Household& h) {
    return h.place == 0 && h.adults[1] >= 0 && !h.children.empty();
  });
  if (h < 0) return;
  const Household& home = households_[static_cast<size_t>(h)];
  const Person& child = people_[static_cast<size_t>(home.children[0])];
  const Person& guardian = people_[static_cast<size_t>(home.adults[1])];
  const Date end{day.days - 1};
  Json c = Record(child, day);
  c["tietoryhmat"].push_back(
      CustodyGroup("HUOLTAJA_SUPPEA", guardian, child.birth, "POISTETTU", end));
  out.push_back(c.dump());
  Json g = Record(guardian, day);
  g["tietoryhmat"].push_back(
      CustodyGroup("HUOLLETTAVA_SUPPEA", child, child.birth, "POISTETTU", end));
  out.push_back(g.dump());
  ++stats_.custody_ended;
}

void DemoCityModel::NewPhone(Date day, std::vector<std::string>& out) {
  int h = PickHousehold([](const DemoCityModel& m, const Household& h) {
    const Person& p = m.people_[static_cast<size_t>(h.adults[0])];
    return p.phone >= 0 && !p.dead;
  });
  if (h < 0) return;
  Person& p = people_[static_cast<size_t>(households_[static_cast<size_t>(h)].adults[0])];
  p.phone = next_phone_++;
  Json r = Record(p, day);
  r["tietoryhmat"].push_back(ContactGroup(p, "MUUTETTU"));  // the whole group: phone and e-mail
  out.push_back(r.dump());
  ++stats_.phone_changes;
}

std::vector<std::string> DemoCityModel::ChangeLines(int n, bool last) {
  const Date day{o_.today.days + n};
  std::vector<std::string> out;
  const int per_cohort = o_.residents * 11 / 1000;
  const int births =
      1 + static_cast<int>(rng_.Below(static_cast<uint64_t>(std::max(2, per_cohort / 180))));
  for (int i = 0; i < births; ++i) Birth(day, out);
  MoveOut(day, out);
  Death(day, out);
  EndCustody(day, out);
  NewPhone(day, out);
  stats_.change_records += static_cast<int>(out.size());
  if (last && o_.inject_malformed) {
    // A truncated line in the middle and a wrong check character at the end.
    out.insert(out.begin() + static_cast<long>(out.size() / 2), R"({"henkilotunnus": "010)");
    std::string code = people_[rng_.Below(people_.size())].hetu;
    code[10] = code[10] == 'Y' ? 'X' : 'Y';
    out.push_back(fmt::format(R"({{"henkilotunnus":"{}","muutospv":"{}","tietoryhmat":[]}})", code,
                              day.ToString()));
    stats_.malformed_lines += 2;
  }
  return out;
}

}  // namespace demo

namespace {

Status WriteBatch(const std::filesystem::path& dir, const std::string& name,
                  const std::vector<std::string>& lines) {
  // Written aside and renamed into place, as the file-drop format asks of every writer.
  const auto tmp = dir / (name + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::Unavailable(fmt::format("cannot write {}", tmp.string()));
    for (const auto& l : lines) out << l << '\n';
    out.flush();
    if (!out) return Status::Unavailable(fmt::format("error writing {}", tmp.string()));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, dir / name, ec);
  if (ec)
    return Status::Unavailable(fmt::format("cannot rename {}: {}", tmp.string(), ec.message()));
  return Status::Ok();
}

// Keeps the groups `which` asks for; a line left with none is dropped. A line that is not a record
// (an injected malformed one) is kept as it is.
std::vector<std::string> SelectGroups(std::vector<std::string> lines, DemoCityGroups which) {
  if (which == DemoCityGroups::kAll) return lines;
  const bool city = which == DemoCityGroups::kCityRegisters;
  std::vector<std::string> out;
  for (auto& line : lines) {
    auto record = nlohmann::ordered_json::parse(line, nullptr, false);
    if (!record.is_object() || !record.contains("tietoryhmat") || !record["tietoryhmat"].is_array()) {
      out.push_back(std::move(line));
      continue;
    }
    auto kept = nlohmann::ordered_json::array();
    for (auto& g : record["tietoryhmat"]) {
      const bool is_city = g.is_object() && g.contains("tietoryhma") && g["tietoryhma"].is_string() &&
                           IsCityRegisterGroup(g["tietoryhma"].get<std::string>());
      if (is_city == city) kept.push_back(std::move(g));
    }
    if (kept.empty()) continue;
    record["tietoryhmat"] = std::move(kept);
    out.push_back(record.dump());
  }
  return out;
}

}  // namespace

bool IsCityRegisterGroup(std::string_view group) {
  return group == "SIJOITUS" || group == "YHTEYSTIEDOT";
}

Result<DemoCityStats> GenerateDemoCity(const DemoCityOptions& options) {
  if (options.residents < 100) return Status::Invalid("demo city: residents must be at least 100");
  if (options.today.year() < 2000 || options.today.year() > 2090) {
    return Status::Invalid("demo city: set options.today (a date between 2000 and 2090)");
  }
  if (options.municipality.size() != 3 || options.change_batches < 0) {
    return Status::Invalid(
        "demo city: municipality must be a three-digit code, change_batches >= 0");
  }
  if (options.out_dir.empty()) return Status::Invalid("demo city: out_dir is empty");
  std::error_code ec;
  std::filesystem::create_directories(options.out_dir, ec);
  if (ec)
    return Status::Unavailable(fmt::format("cannot create {}: {}", options.out_dir, ec.message()));

  // Batch files left by an earlier run with more batches would be read as part of this city.
  for (const auto& entry : std::filesystem::directory_iterator(options.out_dir, ec)) {
    const std::string name = entry.path().filename().string();
    const bool batch = name.size() > 7 && name.find_first_not_of("0123456789") == 6 &&
                       (name.ends_with(".snapshot.jsonl") || name.ends_with(".changes.jsonl"));
    if (batch) std::filesystem::remove(entry.path(), ec);
  }

  demo::DemoCityModel model(options);
  ENNAKKO_RETURN_IF_ERROR(model.Build());
  const std::filesystem::path dir(options.out_dir);
  std::vector<std::string> files;
  files.push_back("000000.snapshot.jsonl");
  ENNAKKO_RETURN_IF_ERROR(
      WriteBatch(dir, files.back(), SelectGroups(model.SnapshotLines(), options.groups)));
  for (int n = 1; n <= options.change_batches; ++n) {
    files.push_back(fmt::format("{:06d}.changes.jsonl", n));
    ENNAKKO_RETURN_IF_ERROR(
        WriteBatch(dir, files.back(),
                   SelectGroups(model.ChangeLines(n, n == options.change_batches), options.groups)));
  }
  DemoCityStats stats = model.stats();
  stats.files = std::move(files);
  return stats;
}

}  // namespace ennakko
