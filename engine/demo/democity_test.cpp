#include "engine/demo/democity.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "connectors/registries/population_filedrop.h"
#include "engine/base/hetu.h"
#include "engine/store/migrations.h"
#include "engine/store/population.h"

using namespace ennakko;
namespace fs = std::filesystem;

namespace {

const Date kToday = Date::FromYmd(2026, 1, 15);

DemoCityOptions Options(const char* name, uint64_t seed = 42, int residents = 5000) {
  DemoCityOptions o;
  o.seed = seed;
  o.residents = residents;
  o.today = kToday;
  o.out_dir = (fs::temp_directory_path() / "ennakko-demo-test" / name).string();
  fs::remove_all(o.out_dir);
  return o;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string ReadDrop(const DemoCityOptions& o, const DemoCityStats& s) {
  std::string all;
  for (const auto& f : s.files) all += f + "\n" + ReadAll(fs::path(o.out_dir) / f);
  return all;
}

}  // namespace

TEST_CASE("the demo city is deterministic in its seed", "[demo]") {
  auto a = Options("a");
  auto b = Options("b");
  auto c = Options("c", 43);
  auto sa = GenerateDemoCity(a);
  auto sb = GenerateDemoCity(b);
  auto sc = GenerateDemoCity(c);
  REQUIRE(sa.ok());
  REQUIRE(sb.ok());
  REQUIRE(sc.ok());
  CHECK(sa->files == std::vector<std::string>{"000000.snapshot.jsonl", "000001.changes.jsonl",
                                              "000002.changes.jsonl"});
  CHECK(ReadDrop(a, *sa) == ReadDrop(b, *sb));
  CHECK(ReadDrop(a, *sa) != ReadDrop(c, *sc));

  // Regenerating with fewer batches leaves no stale batch behind.
  a.change_batches = 1;
  REQUIRE(GenerateDemoCity(a).ok());
  CHECK(fs::exists(fs::path(a.out_dir) / "000001.changes.jsonl"));
  CHECK_FALSE(fs::exists(fs::path(a.out_dir) / "000002.changes.jsonl"));
}

TEST_CASE("every identity code is valid, synthetic and unique", "[demo]") {
  auto o = Options("codes", 7, 20000);
  o.change_batches = 3;
  auto s = GenerateDemoCity(o);
  REQUIRE(s.ok());
  std::set<std::string> subjects;  // persons with a snapshot record or a birth
  std::set<std::string> named;     // every code mentioned anywhere
  int modern_signs = 0, duplicates = 0, invalid = 0, not_synthetic = 0;
  for (const auto& f : s->files) {
    std::ifstream in(fs::path(o.out_dir) / f);
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line);
      auto code = j["henkilotunnus"].get<std::string>();
      named.insert(code);
      bool birth = false;
      for (const auto& g : j["tietoryhmat"]) {
        if (g.contains("henkilotunnus")) named.insert(g["henkilotunnus"].get<std::string>());
        birth |= g["tietoryhma"] == "HENKILON_NIMI";
      }
      // One snapshot record per person; a newborn never reuses a code.
      if (f == s->files[0] || birth) duplicates += !subjects.insert(code).second;
    }
  }
  CHECK(duplicates == 0);
  CHECK(static_cast<int>(subjects.size()) == s->residents + s->births);
  CHECK(named == subjects);  // custody never names someone without a record
  for (const auto& code : named) {
    auto h = ParseHetu(code);
    invalid += !h.ok();
    not_synthetic += h.ok() && (h->individual_number < 900 || h->individual_number > 999);
    modern_signs += std::string("-A+").find(code[6]) == std::string::npos;
  }
  CHECK(invalid == 0);
  CHECK(not_synthetic == 0);
  CHECK(modern_signs > 0);  // 2023 century signs occur (and stay distinct people)
}

TEST_CASE("the demo city has realistic cohorts, languages and contacts", "[demo]") {
  auto o = Options("shape", 42, 50000);
  auto s = GenerateDemoCity(o);
  REQUIRE(s.ok());
  CHECK(s->residents == 50000);
  CHECK(s->preprimary_cohort >= 500);  // ~1.1 % of 50,000 = 550
  CHECK(s->preprimary_cohort <= 600);
  CHECK(s->preprimary_cohort_in_city < s->preprimary_cohort);
  CHECK(s->preprimary_placed >= 30);  // ~10 %
  CHECK(s->preprimary_placed <= 85);
  CHECK(s->other_municipality > 0);
  CHECK(s->address_protected > 0);
  CHECK(s->children >= 9000);
  CHECK(s->children <= 10500);
  CHECK(s->births > 0);
  CHECK(s->deaths == 2);
  CHECK(s->malformed_lines == 0);

  // Counted on the text: parsing 50,000 records in a sanitizer build takes too long for a unit
  // test.
  const std::string snapshot = ReadAll(fs::path(o.out_dir) / s->files[0]);
  auto count = [&](const std::string& needle) {
    int n = 0;
    for (size_t at = snapshot.find(needle); at != std::string::npos;
         at = snapshot.find(needle, at + 1))
      ++n;
    return n;
  };
  std::map<std::string, int> languages;
  for (const char* l : {"fi", "sv", "en"})
    languages[l] = count(std::string(R"("kielikoodi":")") + l + "\"");
  const int adults = s->residents - s->children;
  const int phones = count(R"("puhelin":)");
  const int emails = count(R"("sahkoposti":)");
  CHECK(languages["fi"] > 37000);  // ~80 %
  CHECK(languages["fi"] < 43000);
  CHECK(languages["sv"] > 1800);  // ~6 %
  CHECK(languages["sv"] < 4500);
  CHECK(languages["en"] > 5000);  // ~14 %
  CHECK(languages["en"] < 9000);
  CHECK(phones > adults * 80 / 100);
  CHECK(phones < adults * 90 / 100);
  CHECK(emails > adults * 55 / 100);
  CHECK(emails < adults * 65 / 100);
}

TEST_CASE("the demo city loads through the connector without quarantine", "[demo]") {
  auto o = Options("load", 99, 3000);
  o.change_batches = 3;
  auto s = GenerateDemoCity(o);
  REQUIRE(s.ok());
  auto db = OpenStore({.path = ":memory:"});
  REQUIRE(db.ok());
  FileDropPopulationSource source(FileDropOptions{.directory = o.out_dir});
  auto r = source.Poll(**db);
  REQUIRE(r.ok());
  CHECK(r->batches_applied == 4);
  CHECK(r->records_quarantined == 0);
  CHECK(r->unknown_groups == 0);
  CHECK(r->records_applied == s->residents + s->change_records);
  auto store = PopulationStore::Open(**db);
  CHECK((*store)->CountResidents().value() == s->residents + s->births);
  CHECK((*store)->CountAlive("091").value() ==
        s->residents + s->births - s->other_municipality - s->moved_out - s->deaths);

  SECTION("with injected malformed lines, those alone are quarantined") {
    auto m = Options("malformed", 99, 3000);
    m.inject_malformed = true;
    auto sm = GenerateDemoCity(m);
    REQUIRE(sm.ok());
    CHECK(sm->malformed_lines == 2);
    auto db2 = OpenStore({.path = ":memory:"});
    auto r2 = FileDropPopulationSource(FileDropOptions{.directory = m.out_dir}).Poll(**db2);
    REQUIRE(r2.ok());
    CHECK(r2->records_quarantined == 2);
    CHECK(r2->records_applied == sm->residents + sm->change_records);
  }
}

TEST_CASE("the registers' groups split the city into two drops that add up to it", "[demo]") {
  auto all = Options("split-all", 42, 1000);
  auto vtj = Options("split-vtj", 42, 1000);
  auto city = Options("split-city", 42, 1000);
  vtj.groups = DemoCityGroups::kPopulationRegister;
  city.groups = DemoCityGroups::kCityRegisters;
  auto sa = GenerateDemoCity(all);
  auto sv = GenerateDemoCity(vtj);
  auto sc = GenerateDemoCity(city);
  REQUIRE(sa.ok());
  REQUIRE(sv.ok());
  REQUIRE(sc.ok());
  CHECK(sv->residents == sa->residents);  // the stats describe the city, whatever is written

  // Per (file, identity code): the groups of each kind; the two drops hold exactly the whole's.
  auto groups = [](const DemoCityOptions& o, const DemoCityStats& s) {
    std::multiset<std::string> out;
    for (const auto& f : s.files) {
      std::istringstream lines(ReadAll(fs::path(o.out_dir) / f));
      for (std::string line; std::getline(lines, line);) {
        auto r = nlohmann::json::parse(line);
        REQUIRE(!r["tietoryhmat"].empty());  // no line is left with no group
        for (const auto& g : r["tietoryhmat"]) {
          out.insert(f + " " + r["henkilotunnus"].get<std::string>() + " " + g.dump());
        }
      }
    }
    return out;
  };
  auto whole = groups(all, *sa), register_part = groups(vtj, *sv), city_part = groups(city, *sc);
  size_t placements = 0;
  for (const auto& g : city_part) {
    CHECK((g.find("\"SIJOITUS\"") != std::string::npos || g.find("\"YHTEYSTIEDOT\"") != std::string::npos));
    placements += g.find("\"SIJOITUS\"") != std::string::npos;
  }
  for (const auto& g : register_part) {
    CHECK(g.find("\"SIJOITUS\"") == std::string::npos);
    CHECK(g.find("\"YHTEYSTIEDOT\"") == std::string::npos);
  }
  CHECK(placements > 0);
  CHECK(register_part.size() > city_part.size());
  std::multiset<std::string> sum = register_part;
  sum.insert(city_part.begin(), city_part.end());
  CHECK(sum == whole);
}
