// `ennakko rules test`: table tests for service rules, written by rule authors in YAML.
//
// What it is for: a rule author states, for a handful of residents on a given date, what the rule
// must decide (verdict, the five conditions, recipients, reasons, whether it applies at all), and
// CI checks it on every change. The format is documented in docs/rule-testing.md and described by
// schemas/rule-test.schema.json; the structure is checked here by hand so that the installed
// binary needs no schema file, and every problem is reported as file:line:col.
//
// Layout: <rules dir>/<service>/tests/*.yaml, each a list of cases. A case evaluates against the
// rules directory that contains it (params and all services loaded as the daemon would).
//
// Invariants: a malformed test file runs none of its cases and makes the exit code 2; a rules
// directory that does not load fails every case under it. Output is deterministic (files sorted).
// Thread-safety: functions over values; no shared state.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "engine/app/rule_test_population.h"
#include "engine/base/date.h"
#include "engine/base/status.h"
#include "engine/eval/program.h"
#include "engine/lang/diagnostics.h"

namespace ennakko {

struct RuleTestOptions {
  // Rules directories, service directories or test files. Empty = "rules".
  std::vector<std::string> paths;
  // Also print one line per passing case.
  bool verbose = false;
};

// What a case expects; unset fields are not compared.
struct RuleTestExpectation {
  bool applies = true;  // false: the subject is outside the rule's applies_to
  std::optional<std::string> verdict;
  std::vector<std::pair<std::string, std::string>> conditions;  // condition name -> yes|no|undetermined
  std::optional<std::vector<std::string>> recipients;           // local names, any order
  std::vector<std::string> reasons_contain;                     // each a substring of some reason
  std::optional<std::string> period;
};

struct RuleTestCase {
  std::string name;
  SourceLocation location;  // of the case in its file
  Date at;
  std::string subject;
  std::string service;
  TestPopulation residents;
  RuleTestExpectation expect;
};

struct RuleTestFile {
  std::string path;
  std::string service_dir;  // <rules dir>/<service>
  std::string rules_dir;
  std::vector<RuleTestCase> cases;
};

// Parses and checks one test file; `default_service` is the service of the folder it sits in. On
// any problem: diagnostics (file:line:col) and InvalidArgument.
Result<RuleTestFile> ParseRuleTestFile(const std::string& path, const std::string& default_service, Diagnostics& diags);

// One field that differs: printed as "- field: expected" / "+ field: actual".
struct RuleTestDiff {
  std::string field;
  std::string expected;
  std::string actual;
};

// Runs one case against a compiled rule set; empty = passed. A service the set does not have is a
// diff too (on `service`).
std::vector<RuleTestDiff> RunRuleTestCase(const RuleSet& rules, const RuleTestCase& test_case);

struct RuleTestSummary {
  int passed = 0;
  int failed = 0;
  bool malformed = false;  // a test file (or a path) could not be read: exit code 2
  int ExitCode() const { return malformed ? 2 : failed > 0 ? 1 : 0; }
};

// Finds the test files under `options.paths`, runs every case and prints failures with their diffs
// to `out`, then the closing line "N passed, N failed".
RuleTestSummary RunRuleTests(const RuleTestOptions& options, std::ostream& out);

}  // namespace ennakko
