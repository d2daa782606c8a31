// The expression language end to end: decimals, dates and durations, list macros, parameter
// tables, named definitions, three-valued logic. Each case is a one-clause rule evaluated for a
// subject of a small family, so what is asserted is what a rule author would see.
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>
#include <unistd.h>

#include "engine/eval/evaluator.h"

using namespace ennakko;
namespace fs = std::filesystem;

namespace {

int32_t D(const char* s) { return Date::Parse(s)->days; }

const char* kParams = R"(income_limit:
  description: ECEC income limit by family size
  type: table
  value_type: decimal
  values:
    - {from: "2024-08-01", value: {2: 4066, 3: 5245, 4: 5956, 5: 6667, 6: 7376}, per_extra: 275, source: "OKM 1062/2023"}
fee_percent:
  description: fee percentage
  type: decimal
  values:
    - {from: "2020-01-01", value: 0.107, source: "Act 1503/2016"}
max_fee:
  description: maximum fee
  type: decimal
  values:
    - {from: "2024-08-01", value: 311, source: "OKM 1062/2023"}
    - {from: "2026-08-01", value: 335, source: "OKM 1028/2025"}
income_types:
  description: income type codes that count
  type: list
  value_type: string
  values:
    - {from: "2020-01-01", value: ["201", "202"], source: "test"}
    - {from: "2027-01-01", value: ["202"], source: "test"}
)";

const char* kDefinitions = R"(family_size:
  description: the child, its guardians and its siblings
  argument: child
  returns: int
  expr: 1 + size(child.guardians) + size(child.siblings)
family_income:
  description: the guardians' monthly income from earnings
  argument: child
  returns: decimal
  expr: child.guardians.sum(g, g.incomes.sum(i, i.amount))
monthly_fee:
  description: the income-based fee of the youngest child, capped
  argument: child
  returns: decimal
  expr: >
    round(max(0, family_income(child) - params.income_limit[family_size(child)]) * params.fee_percent) > params.max_fee
      ? params.max_fee
      : round(max(0, family_income(child) - params.income_limit[family_size(child)]) * params.fee_percent)
)";

struct Lang {
  fs::path dir = fs::temp_directory_path() / ("ennakko-lang-" + std::to_string(::getpid()));
  Population pop;
  Lang() {
    PopulationBuilder b;
    b.AddPerson({1, D("1990-01-01"), kNoDate, "091", "fi", false, "Testikatu 1|00100"});  // guardian with incomes
    b.AddPerson({2, D("1991-06-30"), kNoDate, "091", "sv", false, "Testikatu 1|00100"});  // guardian with incomes
    b.AddPerson({3, D("2022-02-28"), kNoDate, "091", "fi", false, "Testikatu 1|00100"});  // child
    b.AddPerson({4, D("2020-02-29"), kNoDate, "091", "fi", false, "Testikatu 9|00100"});  // sibling, leap-day birthday
    b.AddPerson({5, D("2019-01-01"), kNoDate, "049", "fi", false, {}});   // a child whose incomes nobody holds
    for (int c : {3, 4}) {
      b.AddCustody(1, c);
      b.AddCustody(2, c);
    }
    b.AddIncome(1, "201", 3000 * kDecimalScale, D("2026-10-01"), D("2026-10-31"));
    b.AddIncome(1, "201", 250 * kDecimalScale + 500000, D("2026-10-01"), D("2026-10-31"));
    b.AddIncome(2, "201", 2800 * kDecimalScale, D("2026-10-01"), D("2026-10-31"));
    b.AddPlacement(3, "ecec", D("2023-08-01"), kNoDate);
    b.AddPlacement(4, "preschool", D("2026-08-01"), D("2027-05-31"));
    b.AddPerson({6, D("1960-01-01"), kNoDate, "049", "fi", false, {}});
    b.AddCustody(6, 5);
    pop = std::move(b).Build();
  }
  // Evaluates `when` for `subject` on `at`; returns the verdict name. With `shipped`, the
  // parameters and definitions are the ones in rules/, not this file's.
  std::string When(const std::string& when, int64_t subject, const char* at = "2026-11-22", bool shipped = false) {
    fs::remove_all(dir);
    fs::create_directories(dir / "probe");
    if (shipped) {
      fs::copy(ENNAKKO_SOURCE_ROOT "/rules/params", dir / "params", fs::copy_options::recursive);
      fs::copy(ENNAKKO_SOURCE_ROOT "/rules/definitions", dir / "definitions", fs::copy_options::recursive);
    } else {
      fs::create_directories(dir / "params");
      fs::create_directories(dir / "definitions");
      std::ofstream(dir / "params/p.yaml") << kParams;
      std::ofstream(dir / "definitions/family.yaml") << kDefinitions;
    }
    std::ofstream(dir / "probe/rule.yaml")
        << "service: probe\nversion: 1\ntitle: {fi: Koe}\nowner: test\nmode: recommend\nsubject: person\n"
           "data_held: {facts: [subject.birth_date, subject.guardians, subject.siblings, subject.household, subject.placements, "
           "subject.municipality, subject.language, subject.alive]}\n"
           "permission: {basis: public-task, reference: test}\nobligation: {statute: Test Act 1/2026 §1}\n"
           "eligibility:\n  applies_to: 'true'\n  when: '"
        << when << "'\nbenefit: {resident_minutes_saved: 1}\n";
    Diagnostics diags;
    auto sources = LoadRuleSources(dir.string(), diags);
    if (!sources.ok()) return "error: " + diags.ToString();
    auto set = RuleSet::Compile(*sources);
    if (!set.ok()) return "error: " + set.status().ToString();
    Evaluator ev(**set, pop, *Date::Parse(at));
    Decision d;
    REQUIRE(ev.Evaluate(0, static_cast<PersonIndex>(pop.IndexOf(subject)), &d));
    return VerdictName(d.verdict);
  }
};

}  // namespace

TEST_CASE("decimals are exact and mix with integers", "[lang]") {
  Lang l;
  CHECK(l.When("0.1 + 0.2 == 0.3", 3) == "eligible");
  CHECK(l.When("10.70 * 100 == 1070", 3) == "eligible");
  CHECK(l.When("1 / 3.0 == 0.333333", 3) == "eligible");
  CHECK(l.When("round(2.5) == 3 && round(-2.5) == -3 && round(1.2345, 2) == 1.23", 3) == "eligible");
  CHECK(l.When("floor(-1.5) == -2 && ceil(1.000001) == 2", 3) == "eligible");
  CHECK(l.When("decimal(3) / 2 == 1.5 && 3 / 2 == 1", 3) == "eligible");
}

TEST_CASE("date functions handle month ends, leap days and year boundaries", "[lang]") {
  Lang l;
  CHECK(l.When("add_months(date(\"2026-01-31\"), 1) == date(\"2026-02-28\")", 3) == "eligible");
  CHECK(l.When("add_years(date(\"2024-02-29\"), 1) == date(\"2025-02-28\")", 3) == "eligible");
  CHECK(l.When("add_days(date(\"2026-12-31\"), 1) == date(\"2027-01-01\")", 3) == "eligible");
  CHECK(l.When("days_between(date(\"2026-01-01\"), date(\"2027-01-01\")) == 365", 3) == "eligible");
  CHECK(l.When("months_between(subject.birth_date, today) == 56", 3) == "eligible");
  CHECK(l.When("start_of_month(today) == date(\"2026-11-01\") && start_of_year(today) == date(\"2026-01-01\")", 3) == "eligible");
  CHECK(l.When("today - days(30) == date(\"2026-10-23\") && in_days(today - date(\"2026-11-01\")) == 21", 3) == "eligible");
  // The leap-day sibling turns 6 on 1 March in a common year.
  CHECK(l.When("age_at(subject.birth_date, date(\"2026-02-28\")) == 5", 4) == "eligible");
  CHECK(l.When("age_at(subject.birth_date, date(\"2026-03-01\")) == 6", 4) == "eligible");
}

TEST_CASE("list macros: filter, map, sum, min, max, count over relations", "[lang]") {
  Lang l;
  CHECK(l.When("size(subject.siblings) == 1 && subject.siblings.all(s, s.alive)", 3) == "eligible");
  CHECK(l.When("size(subject.guardians.filter(g, g.language == \"sv\")) == 1", 3) == "eligible");
  CHECK(l.When("subject.guardians.map(g, g.language).exists(x, x == \"sv\")", 3) == "eligible");
  CHECK(l.When("subject.guardians.sum(g, size(g.children)) == 4", 3) == "eligible");
  CHECK(l.When("subject.guardians.min(g, g.birth_date) == date(\"1990-01-01\")", 3) == "eligible");
  CHECK(l.When("subject.guardians.max(g, g.incomes.sum(i, i.amount)) == 3250.5", 3) == "eligible");
  CHECK(l.When("subject.siblings.count(s, s.placements.exists(p, p.kind == \"preschool\")) == 1", 3) == "eligible");
  CHECK(l.When("subject.placements.min(p, p.start_date) == null", 5) == "eligible");  // empty: null
  CHECK(l.When("size(subject.household) == 2 && subject.household.all(h, h.municipality == \"091\")", 3) == "eligible");
  CHECK(l.When("size(subject.household) == 0", 4) == "eligible");  // lives elsewhere
  CHECK(l.When("starts_with(subject.municipality, \"09\") && contains(subject.language, \"f\")", 3) == "eligible");
}

TEST_CASE("parameter tables by key, with the per-extra increment past the last key", "[lang]") {
  Lang l;
  CHECK(l.When("params.income_limit[3] == 5245", 3) == "eligible");
  CHECK(l.When("params.income_limit[8] == 7376 + 2 * 275", 3) == "eligible");
  // A key below the table has no value: the rule cannot decide, it does not guess.
  CHECK(l.When("params.income_limit[1] > 0", 3) == "undetermined");
  // The value in force on the evaluation date.
  CHECK(l.When("params.max_fee == 311", 3, "2026-07-31") == "eligible");
  CHECK(l.When("params.max_fee == 335", 3, "2026-08-01") == "eligible");
}

TEST_CASE("list parameters: membership with in, macros, the list in force on the date", "[lang]") {
  Lang l;
  CHECK(l.When("\"201\" in params.income_types", 3) == "eligible");
  CHECK(l.When("\"203\" in params.income_types", 3) == "not_eligible");
  CHECK(l.When("\"201\" in params.income_types", 3, "2027-01-01") == "not_eligible");
  CHECK(l.When("size(params.income_types) == 2 && params.income_types.exists(t, t == \"202\")", 3) == "eligible");
  CHECK(l.When("subject.guardians.all(g, g.incomes.all(i, i.type in params.income_types))", 3) == "eligible");
  CHECK(l.When("201 in params.income_types", 3).find("'in' needs a list of int") != std::string::npos);
}

TEST_CASE("named definitions compose: the ECEC fee of a family", "[lang]") {
  Lang l;
  // Family of 4 (two guardians, two children); income 6050.50; limit 5956; 10.7 % of 94.50.
  CHECK(l.When("family_size(subject) == 4", 3) == "eligible");
  CHECK(l.When("family_income(subject) == 6050.5", 3) == "eligible");
  CHECK(l.When("monthly_fee(subject) == 10", 3) == "eligible");
  // Incomes not held for the other family: undetermined, never a guessed fee.
  CHECK(l.When("monthly_fee(subject) == 0", 5) == "undetermined");
}

TEST_CASE("new type errors are caught before evaluation", "[lang]") {
  Lang l;
  CHECK(l.When("params.income_limit[\"3\"] > 0", 3).find("a table key must be int") != std::string::npos);
  CHECK(l.When("subject.guardians.sum(g, g.language) > 0", 3).find("sum adds numbers") != std::string::npos);
  CHECK(l.When("family_size(3) > 0", 3).find("'family_size' takes a person") != std::string::npos);
  CHECK(l.When("round(1.5, 9) > 0", 3).find("digits must be an integer literal from 0 to 6") != std::string::npos);
  CHECK(l.When("today + 3 > today", 3).find("cannot compare or combine date with int") != std::string::npos);
}

TEST_CASE("the shipped ECEC definitions compute the fee of Act 1503/2016", "[lang]") {
  Lang l;
  PopulationBuilder b;
  // Two guardians, a child in ECEC (3) and an older sibling in ECEC too (4).
  b.AddPerson({1, D("1990-01-01"), kNoDate, "091", "fi", false, {}});
  b.AddPerson({2, D("1991-06-30"), kNoDate, "091", "fi", false, {}});
  b.AddPerson({3, D("2023-02-01"), kNoDate, "091", "fi", false, {}});
  b.AddPerson({4, D("2021-02-01"), kNoDate, "091", "fi", false, {}});
  for (int c : {3, 4}) {
    b.AddCustody(1, c);
    b.AddCustody(2, c);
  }
  b.AddPlacement(3, "ecec", D("2024-08-01"), kNoDate);
  b.AddPlacement(4, "ecec", D("2022-08-01"), kNoDate);
  // October's earnings count on 22 November; September's and November's do not.
  b.AddIncome(1, "201", 4200 * kDecimalScale, D("2026-10-01"), D("2026-10-31"));
  b.AddIncome(2, "201", 3100 * kDecimalScale + 250000, D("2026-10-01"), D("2026-10-31"));
  b.AddIncome(2, "201", 9999 * kDecimalScale, D("2026-09-01"), D("2026-09-30"));
  // November's pay is not October's income; an income type outside ecec_income_types never counts.
  b.AddIncome(1, "201", 8888 * kDecimalScale, D("2026-11-01"), D("2026-11-30"));
  b.AddIncome(1, "999", 7777 * kDecimalScale, D("2026-10-01"), D("2026-10-31"));
  l.pop = std::move(b).Build();
  CHECK(l.When("family_size(subject) == 4", 3, "2026-11-22", true) == "eligible");
  CHECK(l.When("family_income(subject) == 7300.25", 3, "2026-11-22", true) == "eligible");
  CHECK(l.When("youngest_in_ecec(subject)", 3, "2026-11-22", true) == "eligible");
  CHECK(l.When("!youngest_in_ecec(subject)", 4, "2026-11-22", true) == "eligible");
  // (7300.25 - 5956) x 10.7 % = 143.83 -> 144 euros, under the 335 euro cap.
  CHECK(l.When("ecec_full_fee(subject) == 144", 3, "2026-11-22", true) == "eligible");
}
