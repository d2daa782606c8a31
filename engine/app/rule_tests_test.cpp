#include "engine/app/rule_tests.h"

#include <catch2/catch.hpp>
#include <sstream>

#include "engine/app/tools_test_util.h"
#include "engine/lang/json_schema.h"

using namespace ennakko;
using namespace ennakko::tools_testing;
namespace fs = std::filesystem;

namespace {

const char* kPassingAndFailing = R"(- name: eligible in the city
  at: 2026-11-22
  residents:
    child: {birth_date: 2020-05-05, municipality: "091", guardians: [mother]}
    mother: {birth_date: 1990-01-01}
  subject: child
  expect: {verdict: eligible, recipients: [mother]}

- name: wrongly expects another municipality to be eligible
  at: 2026-11-22
  residents:
    child: {birth_date: 2020-05-05, municipality: "049", guardians: [mother]}
    mother: {birth_date: 1990-01-01}
  subject: child
  expect:
    verdict: eligible
    conditions: {eligibility: yes, data_held: yes}
    reasons_contain: [no such reason]
)";

}  // namespace

TEST_CASE("a failing case is reported at its line with a diff per field and counted", "[rules-test]") {
  TempDir tmp;
  CopyShippedRules(tmp.path() / "rules");
  std::string file = (tmp.path() / "rules/preschool-offer/tests/cases.yaml").string();
  WriteFile(file, kPassingAndFailing);

  std::ostringstream out;
  RuleTestSummary s = RunRuleTests({.paths = {(tmp.path() / "rules").string()}}, out);
  INFO(out.str());
  CHECK(s.passed == 1);
  CHECK(s.failed == 1);
  CHECK_FALSE(s.malformed);
  CHECK(s.ExitCode() == 1);
  std::string text = out.str();
  CHECK(text.find(file + ":9: FAIL wrongly expects another municipality to be eligible\n") != std::string::npos);
  CHECK(text.find("    - verdict: eligible\n    + verdict: not_eligible\n") != std::string::npos);
  CHECK(text.find("    - conditions.eligibility: yes\n    + conditions.eligibility: no\n") != std::string::npos);
  CHECK(text.find(
            "    - reasons: one containing \"no such reason\"\n    + reasons: [\"eligibility: `subject.municipality") !=
        std::string::npos);
  CHECK(text.find("conditions.data_held") == std::string::npos);  // equal fields are not listed
  CHECK(text.find("eligible in the city") == std::string::npos);  // passing cases are quiet
  CHECK(text.ends_with("1 passed, 1 failed\n"));

  SECTION("a service directory or a single file can be given too") {
    std::ostringstream one;
    CHECK(RunRuleTests({.paths = {file}}, one).failed == 1);
    std::ostringstream dir;
    CHECK(RunRuleTests({.paths = {(tmp.path() / "rules/preschool-offer").string()}, .verbose = true}, dir).passed == 1);
    CHECK(dir.str().find(file + ":1: ok eligible in the city\n") != std::string::npos);
  }
}

TEST_CASE("a malformed test file names every problem at file:line:col and exits 2", "[rules-test]") {
  TempDir tmp;
  CopyShippedRules(tmp.path() / "rules");
  std::string file = (tmp.path() / "rules/preschool-offer/tests/bad.yaml").string();
  WriteFile(file, R"(- name: broken
  at: 2026-13-01
  residents:
    child: {birth_date: 2020-05-05, municipality: 91, guardians: [mum], colour: blue}
  subject: kid
  expect: {verdict: maybe}
  extra: 1
)");
  std::ostringstream out;
  RuleTestSummary s = RunRuleTests({.paths = {(tmp.path() / "rules").string()}}, out);
  std::string text = out.str();
  INFO(text);
  CHECK(s.malformed);
  CHECK(s.ExitCode() == 2);
  CHECK(text.find(file + ":7:3: error: unknown key 'extra' in a test case") != std::string::npos);
  CHECK(text.find(file + ":2:7: error: at must be the evaluation date YYYY-MM-DD") != std::string::npos);
  // All of the file's problems in the same run, residents and expectations included.
  CHECK(text.find(file + ":4:51: error: municipality must be a non-empty string, got 91") != std::string::npos);
  CHECK(text.find("hint: municipality codes are strings: quote them") != std::string::npos);
  CHECK(text.find(file + ":4:73: error: unknown resident field 'colour'") != std::string::npos);
  CHECK(text.find(file + ":4:67: error: guardian 'mum' is not one of this case's residents") != std::string::npos);
  CHECK(text.find(file + ":5:12: error: subject 'kid' is not one of this case's residents") != std::string::npos);
  CHECK(text.find(file + ":6:21: error: unknown verdict 'maybe'") != std::string::npos);
  CHECK(text.ends_with("0 passed, 0 failed\n"));

  // Other files still run; the malformed one still decides the exit code.
  WriteFile(tmp.path() / "rules/preschool-offer/tests/good.yaml", kPassingAndFailing);
  std::ostringstream both;
  RuleTestSummary s2 = RunRuleTests({.paths = {(tmp.path() / "rules").string()}}, both);
  CHECK(s2.passed == 1);
  CHECK(s2.failed == 1);
  CHECK(s2.ExitCode() == 2);
}

TEST_CASE("expectations that cannot be checked are refused", "[rules-test]") {
  TempDir tmp;
  std::string file = tmp.File("t.yaml");
  auto errors = [&](const std::string& expect) {
    WriteFile(file,
              "- name: n\n  at: 2026-11-22\n  residents: {child: {birth_date: 2020-01-01}}\n  subject: child\n"
              "  expect: " +
                  expect + "\n");
    Diagnostics diags;
    auto parsed = ParseRuleTestFile(file, "preschool-offer", diags);
    return parsed.ok() ? std::string() : diags.ToString();
  };
  CHECK(errors("{verdict: eligible}").empty());
  CHECK(errors("{applies: false}").empty());
  CHECK(errors("{}").find("expect says nothing to check") != std::string::npos);
  CHECK(errors("{applies: false, verdict: eligible}").find("expects no decision") != std::string::npos);
  CHECK(errors("{conditions: {eligibility: maybe}}").find("must be yes, no or undetermined") != std::string::npos);
  CHECK(errors("{conditions: {happiness: yes}}").find("unknown condition 'happiness'") != std::string::npos);
}

TEST_CASE("residents can hold incomes (exact decimals) and siblings follow from custody", "[rules-test]") {
  TempDir tmp;
  CopyShippedRules(tmp.path() / "rules");
  // A rule over the shipped definitions family_size (siblings) and family_income (incomes).
  WriteFile(tmp.path() / "rules/fee-notice/rule.yaml", R"(service: fee-notice
version: 1
title: {fi: Maksuilmoitus}
owner: Test unit
mode: recommend
subject: person
data_held:
  facts: [subject.birth_date, subject.guardians, subject.siblings]
permission: {basis: public-task, reference: "test"}
obligation: {statute: "Act 1503/2016"}
eligibility:
  applies_to: size(subject.guardians) > 0 && year(subject.birth_date) >= 2020
  when: family_size(subject) >= 3 && family_income(subject) > 3000.25
benefit: {resident_minutes_saved: 10, city_eur_saved: 0}
)");
  auto family = [](const std::string& mum, bool sibling) {
    return std::string("  residents:\n    kid: {birth_date: 2022-01-01, guardians: [mum]}\n") +
           (sibling ? "    big: {birth_date: 2020-01-01, guardians: [mum]}\n" : "") + "    mum: " + mum + "\n";
  };
  std::string cases;
  auto add = [&](const std::string& name, const std::string& mum, bool sibling, const std::string& expect) {
    cases += "- name: " + name + "\n  at: 2026-11-22\n" + family(mum, sibling) + "  subject: kid\n  expect: " + expect +
             "\n";
  };
  const char* october = "start_date: 2026-10-01, end_date: 2026-10-31";
  add("above the line by a cent", std::string("{incomes: [{type: \"201\", amount: 3000.26, ") + october + "}]}", true,
      "{verdict: eligible}");
  add("exactly on the line", std::string("{incomes: [{type: \"201\", amount: \"3000.25\", ") + october + "}]}", true,
      "{verdict: not_eligible}");
  add("incomes not held", "{birth_date: 1990-01-01}", true,
      "{verdict: undetermined, conditions: {eligibility: undetermined}}");
  add("no income is a fact", "{incomes: []}", true, "{verdict: not_eligible}");
  add("an only child is a family of two", std::string("{incomes: [{type: \"201\", amount: 9000, ") + october + "}]}",
      false, "{verdict: not_eligible, reasons_contain: [\"family_size(subject) >= 3\"]}");
  WriteFile(tmp.path() / "rules/fee-notice/tests/family.yaml", cases);
  std::ostringstream out;
  RuleTestSummary s = RunRuleTests({.paths = {(tmp.path() / "rules/fee-notice").string()}}, out);
  INFO(cases << out.str());
  CHECK(s.passed == 5);
  CHECK(s.ExitCode() == 0);
}

TEST_CASE("residents with the same household label live at the same address", "[rules-test]") {
  TempDir tmp;
  CopyShippedRules(tmp.path() / "rules");
  WriteFile(tmp.path() / "rules/home-visit/rule.yaml", R"(service: home-visit
version: 1
title: {fi: Kotikäynti}
owner: Test unit
mode: recommend
subject: person
data_held:
  facts: [subject.birth_date, subject.household]
permission: {basis: public-task, reference: "test"}
obligation: {statute: "Test Act 1/2026"}
eligibility:
  applies_to: year(subject.birth_date) < 1950
  when: size(subject.household) == 0
benefit: {resident_minutes_saved: 10, city_eur_saved: 0}
)");
  WriteFile(tmp.path() / "rules/home-visit/tests/t.yaml", R"(- name: living alone
  at: 2026-11-22
  residents:
    elder: {birth_date: 1940-01-01, household: flat-1}
    neighbour: {birth_date: 1960-01-01, household: flat-2}
  subject: elder
  expect: {verdict: eligible}
- name: living with someone
  at: 2026-11-22
  residents:
    elder: {birth_date: 1940-01-01, household: flat-1}
    spouse: {birth_date: 1942-01-01, household: flat-1}
  subject: elder
  expect: {verdict: not_eligible}
)");
  std::ostringstream out;
  RuleTestSummary s = RunRuleTests({.paths = {(tmp.path() / "rules/home-visit").string()}}, out);
  INFO(out.str());
  CHECK(s.passed == 2);
  CHECK(s.ExitCode() == 0);

  WriteFile(tmp.path() / "rules/home-visit/tests/t.yaml", R"(- name: protected
  at: 2026-11-22
  residents:
    elder: {birth_date: 1940-01-01, household: flat-1, address_protected: true}
  subject: elder
  expect: {verdict: eligible}
)");
  std::ostringstream bad;
  CHECK(RunRuleTests({.paths = {(tmp.path() / "rules/home-visit").string()}}, bad).ExitCode() == 2);
  CHECK(bad.str().find("is address-protected, so no household is held") != std::string::npos);
}

TEST_CASE("the shipped rule tests follow schemas/rule-test.schema.json", "[rules-test]") {
  auto validator = SchemaValidator::FromFile(ENNAKKO_SOURCE_ROOT "/schemas/rule-test.schema.json");
  REQUIRE(validator.ok());
  int files = 0;
  for (const auto& service : fs::directory_iterator(ENNAKKO_SOURCE_ROOT "/rules")) {
    if (!fs::is_directory(service.path() / "tests")) continue;
    for (const auto& e : fs::directory_iterator(service.path() / "tests")) {
      Diagnostics diags;
      auto doc = LoadYamlFile(e.path().string(), diags);
      REQUIRE(doc.ok());
      INFO(e.path().string());
      CHECK((*validator)->Validate(*doc, diags));
      INFO(diags.ToString());
      CHECK_FALSE(diags.has_errors());
      ++files;
    }
  }
  CHECK(files >= 3);
}
