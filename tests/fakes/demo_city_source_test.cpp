// The demo city as the doubles serve it (demo_city_source.h): VTJ's shapes carry the same facts as
// the file drop, the city's own registers are left out, and the earnings reports go to exactly the
// guardians of children in ECEC.
#include "tests/fakes/demo_city_source.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "connectors/registries/population_record.h"
#include "engine/demo/democity.h"
#include "tests/fakes/incomes_fake_server.h"
#include "tests/fakes/vtj_fake_server.h"

using namespace ennakko;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const Date kToday = Date::FromYmd(2026, 3, 10);

// A small demo city with every group (the file-drop demo's drop).
std::pair<std::string, DemoCityStats> City(const char* name) {
  DemoCityOptions o;
  o.residents = 1500;
  o.today = kToday;
  o.out_dir = (fs::temp_directory_path() / "ennakko-demo-city-source-test" / name).string();
  fs::remove_all(o.out_dir);
  auto stats = GenerateDemoCity(o);
  REQUIRE(stats.ok());
  return {o.out_dir, *stats};
}

std::vector<json> Lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<json> out;
  for (std::string l; std::getline(in, l);) out.push_back(json::parse(l));
  return out;
}

}  // namespace

TEST_CASE("vtj_fake serves the demo city's register groups in VTJ's shapes", "[fakes][demo]") {
  auto [dir, stats] = City("vtj");
  auto data = VtjDataFromDemoCity(dir);
  REQUIRE(data.ok());
  CHECK(data->persons == stats.residents);
  CHECK(data->skipped_lines > 0);  // the phone changes: YHTEYSTIEDOT only, not VTJ's
  CHECK(data->changes + data->skipped_lines == stats.change_records);

  // The same facts as the file drop's records, minus placements and contacts.
  std::map<std::string, json> snapshot;
  for (auto& l : Lines(fs::path(dir) / "000000.snapshot.jsonl")) snapshot[l["henkilotunnus"]] = l;
  const json persons = json::parse(data->henkilot);
  REQUIRE(persons.size() == snapshot.size());
  int custody = 0, addresses = 0;
  for (const auto& p : persons) {
    const std::string text = p.dump();
    CHECK(text.find("SIJOITUS") == std::string::npos);
    CHECK(text.find("YHTEYSTIEDOT") == std::string::npos);
    auto served = ParsePopulationRecord(text, BatchKind::kSnapshot);
    auto original = ParsePopulationRecord(snapshot.at(p["henkilotunnus"]).dump(), BatchKind::kSnapshot);
    REQUIRE(served.ok());
    REQUIRE(original.ok());
    CHECK(served->unknown_groups.empty());
    CHECK(served->placements.empty());
    CHECK(!served->update.phone.touched());
    CHECK(served->update.name.value() == original->update.name.value());
    CHECK(served->update.residence.value()->municipality == original->update.residence.value()->municipality);
    CHECK(served->update.address.value() == original->update.address.value());
    addresses += served->update.address.value().has_value();
    REQUIRE(served->custody.size() == original->custody.size());
    for (size_t i = 0; i < served->custody.size(); ++i) {
      CHECK(served->custody[i].other_hetu == original->custody[i].other_hetu);
    }
    custody += static_cast<int>(served->custody.size());
  }
  CHECK(custody > 0);
  CHECK(addresses > stats.residents / 2);
  CHECK(data->henkilot.find("\"huoltaja\":{\"henkilotunnus\"") != std::string::npos);  // nested, as VTJ
  CHECK(data->henkilot.find("\"etunimi\"") != std::string::npos);

  for (const auto& c : json::parse(data->muutokset)) {
    auto parsed = ParsePopulationRecord(c.dump(), BatchKind::kChanges);
    CHECK(parsed.ok());
    CHECK(c["muutospv"].get<std::string>().size() == 24);  // a timestamp, as the interface sends
  }

  // The double takes it: the change log holds every change after the base key.
  VtjFake fake;
  REQUIRE(fake.SetPersons(data->henkilot).ok());
  auto last = fake.AppendChanges(data->muutokset);
  REQUIRE(last.ok());
  CHECK(*last == VtjFakeOptions{}.base_key + data->changes);
}

TEST_CASE("incomes_fake holds earnings of the demo's guardians of children in ECEC only", "[fakes][demo]") {
  auto [dir, stats] = City("incomes");
  // The oracle: guardians (HUOLTAJA_SUPPEA) of snapshot children with an open ECEC placement.
  std::set<std::string> guardians, everyone;
  for (auto& l : Lines(fs::path(dir) / "000000.snapshot.jsonl")) {
    everyone.insert(l["henkilotunnus"].get<std::string>());
    bool ecec = false;
    std::vector<std::string> of;
    for (auto& g : l["tietoryhmat"]) {
      if (g["tietoryhma"] == "SIJOITUS" && g["laji"] == "varhaiskasvatus" && !g.contains("loppupv")) ecec = true;
      if (g["tietoryhma"] == "HUOLTAJA_SUPPEA") of.push_back(g["henkilotunnus"]);
    }
    if (ecec) guardians.insert(of.begin(), of.end());
  }
  REQUIRE(guardians.size() > 20);

  auto earnings = EarningsReportsFromDemoCity(dir, kToday);
  REQUIRE(earnings.ok());
  CHECK(earnings->guardians == static_cast<int>(guardians.size()));
  CHECK(earnings->with_reports < earnings->guardians);          // some have no wages
  CHECK(earnings->with_reports * 10 > earnings->guardians * 7);  // most have one

  // The reports, read back as XML text: earners, the previous month, amounts in range.
  std::set<std::string> earners;
  const std::string& xml = earnings->xml;
  for (size_t at = xml.find("<IncomeEarnerIds><Id>"); at != std::string::npos;
       at = xml.find("<IncomeEarnerIds><Id>", at + 1)) {
    const size_t start = at + 21;
    earners.insert(xml.substr(start, xml.find('<', start) - start));
  }
  CHECK(static_cast<int>(earners.size()) == earnings->with_reports);
  for (const auto& e : earners) CHECK(guardians.count(e) == 1);
  CHECK(xml.find("<StartDate>2026-02-01</StartDate><EndDate>2026-02-28</EndDate>") != std::string::npos);
  CHECK(xml.find("<StartDate>2026-03") == std::string::npos);
  for (const auto& code : everyone) {  // report ids and the rest name nobody but the earner
    const size_t n = [&] {
      size_t c = 0;
      for (size_t at = xml.find(code); at != std::string::npos; at = xml.find(code, at + 1)) ++c;
      return c;
    }();
    CHECK(n == earners.count(code));
  }
  CHECK(EarningsReportsFromDemoCity(dir, kToday)->xml == xml);  // deterministic

  IncomesFake fake;
  CHECK(fake.AddReports(xml).ok());
}

TEST_CASE("a directory that is not a demo city is a clear error", "[fakes][demo]") {
  const fs::path empty = fs::temp_directory_path() / "ennakko-demo-city-source-test" / "empty";
  fs::remove_all(empty);
  fs::create_directories(empty);
  CHECK(!VtjDataFromDemoCity(empty.string()).ok());
  CHECK(!EarningsReportsFromDemoCity(empty.string(), kToday).ok());
  CHECK(!VtjDataFromDemoCity((empty / "missing").string()).ok());
}
