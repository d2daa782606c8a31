#include "engine/app/simulate.h"

#include <catch2/catch.hpp>
#include <sstream>

#include "engine/app/tools_test_util.h"
#include "engine/base/hetu.h"
#include "engine/lang/rule.h"
#include "engine/store/migrations.h"

using namespace ennakko;
using namespace ennakko::tools_testing;

namespace {

int32_t D(const char* s) { return Date::Parse(s)->days; }

void Add(PopulationBuilder& b, int64_t id, const char* birth, const char* municipality) {
  PopulationBuilder::Person p;
  p.store_id = id;
  p.birth = D(birth);
  p.municipality = municipality;
  b.AddPerson(p);
}

std::shared_ptr<const RuleSet> Load(const std::string& dir) {
  Diagnostics diags;
  auto sources = LoadRuleSources(dir, diags);
  INFO(diags.ToString());
  REQUIRE(sources.ok());
  return RuleSet::Compile(*sources).value();
}

// The shipped rules with the city code changed to `code` (another city's rule set).
std::string RulesForCity(const TempDir& tmp, const std::string& code) {
  auto dir = tmp.path() / ("rules-" + code);
  CopyShippedRules(dir);
  std::string params = ReadFile(dir / "params/city.yaml");
  auto at = params.find("value: \"091\"");
  REQUIRE(at != std::string::npos);
  params.replace(at, 12, "value: \"" + code + "\"");
  WriteFile(dir / "params/city.yaml", params);
  return dir.string();
}

// Guardians 1, 2 in the city; children 10..14 in city 091, 20..22 in 049, 30 born 2021 (outside),
// 15 in 091 whose only guardian has died.
Population SmallCity() {
  PopulationBuilder b;
  Add(b, 1, "1990-01-01", "091");
  Add(b, 2, "1991-01-01", "049");
  for (int64_t id : {10, 11, 12, 13, 14}) Add(b, id, "2020-05-05", "091");
  for (int64_t id : {20, 21, 22}) Add(b, id, "2020-06-06", "049");
  Add(b, 30, "2021-01-01", "091");
  // 15: in the city, but its only guardian (3) has died: nobody to offer to.
  PopulationBuilder::Person dead;
  dead.store_id = 3;
  dead.birth = D("1980-01-01");
  dead.death = D("2025-01-01");
  b.AddPerson(dead);
  Add(b, 15, "2020-07-07", "091");
  b.AddCustody(3, 15);
  for (int64_t id : {10, 11, 12, 13, 14, 20, 21, 22, 30}) b.AddCustody(1, id);
  b.AddCustody(2, 20);
  b.AddPlacement(14, "preschool", D("2026-08-01"), kNoDate);
  return std::move(b).Build();
}

}  // namespace

TEST_CASE("simulate counts verdicts by service", "[simulate]") {
  auto rules = Load(ENNAKKO_SOURCE_ROOT "/rules");
  Population pop = SmallCity();
  size_t calls = 0, last = 0;
  auto report =
      SimulatePopulation(pop, *rules, nullptr, *Date::Parse("2026-11-22"), 20, 2, [&](size_t done, size_t total) {
        ++calls;
        last = done;
        CHECK(total == pop.size());
      });
  CHECK(report.residents == 13);
  CHECK(report.counts["preschool-offer"]["eligible"] == 4);
  CHECK(report.counts["preschool-offer"]["not_eligible"] == 4);  // 3 in 049, 1 placed
  CHECK(report.counts["preschool-offer"]["undetermined"] == 1);  // no living recipient, as the daemon records it
  CHECK(report.transitions.empty());
  CHECK(calls >= 1);
  CHECK(last == pop.size());
  std::string text = RenderSimulation(report, *Date::Parse("2026-11-22"), "rules", "", [](int64_t) { return "p-x"; });
  INFO(text);
  CHECK(text.find("simulated 13 residents on 2026-11-22") != std::string::npos);
  CHECK(text.find("preschool-offer") != std::string::npos);
  CHECK(text.find("changes") == std::string::npos);
}

TEST_CASE("simulate against another rule set: transitions with capped examples", "[simulate]") {
  TempDir tmp;
  auto current = Load(ENNAKKO_SOURCE_ROOT "/rules");
  auto proposed = Load(RulesForCity(tmp, "049"));
  Population pop = SmallCity();
  auto report = SimulatePopulation(pop, *proposed, current.get(), *Date::Parse("2026-11-22"), 2);
  using Key = std::tuple<std::string, std::string, std::string>;
  // 091 children (not placed) lose eligibility; 049 children gain it; the placed child stays.
  REQUIRE(report.transitions.count(Key{"preschool-offer", "eligible", "not_eligible"}));
  REQUIRE(report.transitions.count(Key{"preschool-offer", "not_eligible", "eligible"}));
  const Transition& lost = report.transitions[Key{"preschool-offer", "eligible", "not_eligible"}];
  const Transition& gained = report.transitions[Key{"preschool-offer", "not_eligible", "eligible"}];
  CHECK(lost.count == 4);
  CHECK(lost.examples.size() == 2);  // capped
  CHECK(gained.count == 3);
  CHECK(report.transitions[Key{"preschool-offer", "undetermined", "not_eligible"}].count == 1);
  CHECK(report.changed == 8);
  CHECK(report.transitions.size() == 3);
  std::string text = RenderSimulation(report, *Date::Parse("2026-11-22"), "new", "old",
                                      [](int64_t id) { return "p-" + std::to_string(id); });
  INFO(text);
  CHECK(text.find("changes against old: 8 subject decision(s) change verdict") != std::string::npos);
  CHECK(text.find("eligible -> not_eligible: 4") != std::string::npos);
  CHECK(text.find("      p-10  p-11\n      ... and 2 more\n") != std::string::npos);

  SECTION("a service only one set has moves from or to no_rule") {
    TempDir empty;
    CopyShippedRules(empty.path() / "rules");
    std::filesystem::remove_all(empty.path() / "rules/preschool-offer");
    auto none = Load((empty.path() / "rules").string());
    auto r = SimulatePopulation(pop, *current, none.get(), *Date::Parse("2026-11-22"), 20);
    CHECK(r.transitions[Key{"preschool-offer", "no_rule", "eligible"}].count == 4);
    CHECK(r.transitions[Key{"preschool-offer", "no_rule", "not_eligible"}].count == 4);
    CHECK(r.transitions[Key{"preschool-offer", "no_rule", "undetermined"}].count == 1);
    CHECK_FALSE(r.transitions.count(Key{"preschool-offer", "no_rule", "not_applicable"}));
  }
}

TEST_CASE("the simulate command reads the store without writing to it", "[simulate]") {
  TempDir tmp;
  std::string store = tmp.File("store.db");
  {
    auto db = OpenStore({.path = store}).value();
    auto st = db->Prepare(
        "INSERT INTO residents (id, hetu, birth_date, municipality, updated_at) VALUES (?, ?, ?, '091', 'x')");
    st->Bind(1, 1).Bind(2, MakeHetu(Date::FromYmd(1990, 1, 1), 902)).Bind(3, "1990-01-01");
    REQUIRE(st->Run().ok());
    st->Reset();
    st->Bind(1, 2).Bind(2, MakeHetu(Date::FromYmd(2020, 5, 5), 904)).Bind(3, "2020-05-05");
    REQUIRE(st->Run().ok());
    REQUIRE(db->Exec("INSERT INTO custody (guardian_id, ward_id) VALUES (1, 2)").ok());
  }
  std::string before = ReadFile(store);
  std::string config = tmp.File("ennakko.yaml");
  WriteFile(
      config,
      std::string("store: {path: store.db}\naudit: {path: audit.jsonl, pseudonym_key: "
                  "\"simulate-test-key-simulate-test-key\"}\nrules: {directory: rules}\n"
                  "population: {kind: file-drop, directory: population}\nchannels: {file: {directory: offers}}\n"));
  SimulateOptions o;
  o.config_path = config;
  o.rules_dir = RulesForCity(tmp, "049");
  o.against_dir = ENNAKKO_SOURCE_ROOT "/rules";
  o.at = "2026-11-22";
  std::ostringstream out, err;
  CHECK(RunSimulate(o, out, err) == 0);
  INFO(out.str() + err.str());
  CHECK(out.str().find("eligible -> not_eligible: 1\n      p-") != std::string::npos);
  CHECK(out.str().find(MakeHetu(Date::FromYmd(2020, 5, 5), 904)) == std::string::npos);
  CHECK(err.str().empty());  // no progress bar when not asked for
  CHECK(ReadFile(store) == before);
  CHECK_FALSE(std::filesystem::exists(tmp.File("audit.jsonl")));

  o.rules_dir = tmp.File("no-such-rules");
  std::ostringstream out2, err2;
  CHECK(RunSimulate(o, out2, err2) == 1);
}
