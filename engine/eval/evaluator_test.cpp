#include "engine/eval/evaluator.h"

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <catch2/catch.hpp>

using namespace ennakko;

namespace {

std::shared_ptr<const RuleSet> ShippedRules() {
  Diagnostics diags;
  auto sources = LoadRuleSources(ENNAKKO_SOURCE_ROOT "/rules", diags);
  INFO(diags.ToString());
  REQUIRE(sources.ok());
  auto set = RuleSet::Compile(*sources);
  REQUIRE(set.ok());
  return *set;
}

int32_t D(const char* s) { return Date::Parse(s)->days; }

// The index of the pre-primary rule among the shipped rules (they load in folder-name order).
size_t Preschool(const RuleSet& rules) {
  for (size_t i = 0; i < rules.rules().size(); ++i) {
    if (rules.rules()[i].spec->service == "preschool-offer") return i;
  }
  FAIL("no preschool-offer rule");
  return 0;
}

// A small city on 2026-11-22: the pre-primary cohort is born in 2020.
struct City {
  Population pop;
  City() {
    PopulationBuilder b;
    // 1, 2: guardians in the city; 3: eligible child.
    b.AddPerson({1, D("1990-01-01"), kNoDate, "091", "fi", false, {}});
    b.AddPerson({2, D("1991-01-01"), kNoDate, "091", "sv", false, {}});
    b.AddPerson({3, D("2020-05-05"), kNoDate, "091", "fi", false, {}});
    // 4: child of 1 with a preschool placement already.
    b.AddPerson({4, D("2020-12-31"), kNoDate, "091", "fi", false, {}});
    // 5: child living in another municipality.
    b.AddPerson({5, D("2020-01-01"), kNoDate, "049", "fi", false, {}});
    // 6: child whose municipality is not held.
    b.AddPerson({6, D("2020-03-03"), kNoDate, "", "fi", false, {}});
    // 7: child born 2021 (not in the cohort).
    b.AddPerson({7, D("2021-01-01"), kNoDate, "091", "fi", false, {}});
    // 8: child in the cohort with no guardian on record; 9: dead child; 10: a dead guardian.
    b.AddPerson({8, D("2020-07-07"), kNoDate, "091", "en", false, {}});
    b.AddPerson({9, D("2020-08-08"), D("2024-01-01"), "091", "fi", false, {}});
    b.AddPerson({10, D("1980-01-01"), D("2025-01-01"), "091", "fi", false, {}});
    for (int child : {3, 4, 6, 7, 9}) {
      b.AddCustody(1, child);
      b.AddCustody(2, child);
    }
    b.AddCustody(10, 3);
    b.AddCustody(1, 5);
    b.AddPlacement(4, "preschool", D("2026-08-01"), kNoDate);
    b.AddPlacement(3, "ecec", D("2023-08-01"), kNoDate);
    pop = std::move(b).Build();
  }
};

}  // namespace

TEST_CASE("the pre-primary rule: verdicts of the five conditions and reasons", "[eval]") {
  auto rules = ShippedRules();
  City city;
  Evaluator ev(*rules, city.pop, *Date::Parse("2026-11-22"));
  auto decide = [&](int64_t store_id) {
    Decision d;
    bool applies = ev.Evaluate(Preschool(*rules), static_cast<PersonIndex>(city.pop.IndexOf(store_id)), &d);
    return std::make_pair(applies, d);
  };

  auto [a3, d3] = decide(3);
  REQUIRE(a3);
  CHECK(d3.verdict == Verdict::kEligible);
  for (auto c : d3.conditions) CHECK(c == Tri::kYes);
  CHECK(d3.period == "2026");
  // Guardians 1 and 2; the dead guardian 10 receives nothing.
  REQUIRE(d3.recipients.size() == 2);
  CHECK(city.pop.store_id(d3.recipients[0]) + city.pop.store_id(d3.recipients[1]) == 3);

  auto [a4, d4] = decide(4);
  REQUIRE(a4);
  CHECK(d4.verdict == Verdict::kNotEligible);
  CHECK(d4.conditions[kEligibility] == Tri::kNo);
  REQUIRE_FALSE(d4.reasons.empty());
  CHECK(d4.reasons.back() == "eligibility: `!subject.placements.exists(p, p.kind == \"preschool\")` is false");
  CHECK(d4.recipients.empty());

  auto [a5, d5] = decide(5);
  REQUIRE(a5);
  CHECK(d5.verdict == Verdict::kNotEligible);
  CHECK(d5.reasons.back() == "eligibility: `subject.municipality == params.city_code` is false");

  // Not held is undetermined, never silently not eligible.
  auto [a6, d6] = decide(6);
  REQUIRE(a6);
  CHECK(d6.verdict == Verdict::kUndetermined);
  CHECK(d6.conditions[kDataHeld] == Tri::kNo);
  CHECK(d6.conditions[kEligibility] == Tri::kUndetermined);
  CHECK(std::find(d6.reasons.begin(), d6.reasons.end(), "data_held: subject.municipality is not held") != d6.reasons.end());

  CHECK_FALSE(decide(7).first);  // outside the cohort: no decision at all
  CHECK_FALSE(decide(1).first);

  auto [a8, d8] = decide(8);
  REQUIRE(a8);
  CHECK(d8.verdict == Verdict::kUndetermined);
  CHECK(d8.reasons[0] == "data_held: subject.guardians is not held");

  auto [a9, d9] = decide(9);
  REQUIRE(a9);
  CHECK(d9.verdict == Verdict::kNotEligible);
  CHECK(d9.reasons.back() == "eligibility: `subject.alive` is false");
}

TEST_CASE("the cohort moves with the evaluation date's year", "[eval]") {
  auto rules = ShippedRules();
  City city;
  Evaluator ev2027(*rules, city.pop, *Date::Parse("2027-01-01"));
  CHECK(ev2027.AppliesTo(Preschool(*rules), static_cast<PersonIndex>(city.pop.IndexOf(7))));
  CHECK_FALSE(ev2027.AppliesTo(Preschool(*rules), static_cast<PersonIndex>(city.pop.IndexOf(3))));
  // 31 December 2026 in Helsinki still belongs to 2026.
  Evaluator ev_eve(*rules, city.pop, *Date::Parse("2026-12-31"));
  CHECK(ev_eve.AppliesTo(Preschool(*rules), static_cast<PersonIndex>(city.pop.IndexOf(4))));
}

TEST_CASE("parameter values in force are reported with their legal source", "[eval]") {
  auto rules = ShippedRules();
  City city;
  Evaluator ev(*rules, city.pop, *Date::Parse("2026-11-22"));
  bool found = false;
  for (const auto& s : ev.param_sources()) {
    if (s.rfind("city_code = \"091\"", 0) == 0) found = true;
  }
  CHECK(found);
}

TEST_CASE("subtrees that depend only on today and parameters are folded", "[eval]") {
  auto rules = ShippedRules();
  const CompiledExpr& applies = rules->rules()[Preschool(*rules)].applies_to;
  // year(subject.birth_date) == year(today) - params.preschool_age: the right side is folded,
  // the left side reads the resident and is not.
  int folded = 0;
  for (const auto& n : applies.nodes) {
    if (n.folded) {
      ++folded;
      CHECK(n.op != Op::kField);
      CHECK(n.op != Op::kEq);
    }
  }
  CHECK(folded == 2);  // year(today) and the subtraction
  City city;
  Evaluator ev(*rules, city.pop, *Date::Parse("2026-11-22"));
  CHECK(ev.AppliesTo(Preschool(*rules), static_cast<PersonIndex>(city.pop.IndexOf(3))));
}

TEST_CASE("a fact older than its max age is stale: the decision is undetermined, not guessed", "[eval]") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("ennakko-stale-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::copy(ENNAKKO_SOURCE_ROOT "/rules", dir, fs::copy_options::recursive);
  {
    std::ifstream in(dir / "preschool-offer/rule.yaml");
    std::string text((std::istreambuf_iterator<char>(in)), {});
    auto at = text.find("subject.municipality", text.find("facts: ["));
    REQUIRE(at != std::string::npos);
    text.replace(at, std::string("subject.municipality").size(), "{fact: subject.municipality, max_age_days: 365}");
    std::ofstream(dir / "preschool-offer/rule.yaml") << text;
  }
  Diagnostics diags;
  auto sources = LoadRuleSources(dir.string(), diags);
  INFO(diags.ToString());
  REQUIRE(sources.ok());
  auto rules = RuleSet::Compile(*sources).value();
  REQUIRE(rules->freshness_fields() == std::vector<Field>{Field::kMunicipality});

  auto decide = [&](int32_t fetched) {
    PopulationBuilder b;
    b.AddPerson({1, D("1990-01-01"), kNoDate, "091", "fi", false, {}});
    b.AddPerson({3, D("2020-05-05"), kNoDate, "091", "fi", false, {}});
    b.AddCustody(1, 3);
    if (fetched != kNoDate) b.SetFetched(3, Field::kMunicipality, fetched);
    Population pop = std::move(b).Build();
    Evaluator ev(*rules, pop, *Date::Parse("2026-11-22"));
    Decision d;
    REQUIRE(ev.Evaluate(Preschool(*rules), static_cast<PersonIndex>(pop.IndexOf(3)), &d));
    return d;
  };
  Decision fresh = decide(D("2026-06-01"));
  CHECK(fresh.verdict == Verdict::kEligible);
  Decision stale = decide(D("2025-01-01"));
  CHECK(stale.verdict == Verdict::kUndetermined);
  CHECK(stale.conditions[kDataHeld] == Tri::kNo);
  CHECK(stale.conditions[kEligibility] == Tri::kYes);
  REQUIRE_FALSE(stale.reasons.empty());
  CHECK(stale.reasons[0] == "data_held: subject.municipality is stale: fetched 2025-01-01, more than 365 days ago");
  Decision unknown = decide(kNoDate);
  CHECK(unknown.verdict == Verdict::kUndetermined);
  CHECK(unknown.reasons[0].find("fetched at an unknown time") != std::string::npos);
}
