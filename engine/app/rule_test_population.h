// The residents of a rule test case, turned into an evaluation Population.
//
// What it is for: a rule test (engine/app/rule_tests.h) describes a few residents by local name
// ("child", "mother") with the facts the rules read. This file is the one place that maps a test
// file's resident fields onto PopulationBuilder calls: to let tests set a new person fact, add an
// entry to the field table in rule_test_population.cc (and a line in docs/rule-testing.md).
//
// Invariants: residents get store ids 1..N in name order; a field that is absent or null is a fact
// the city does not hold (as in the store); every problem is a diagnostic at the offending node,
// and a population is built only when there is none. Guardians name other residents of the same
// case; custody with dates is in force on the case's evaluation date only, as the daemon loads it.
// Siblings and children are derived from custody, as in the store. `incomes: []` means income data
// is held and there is none; no `incomes` key means the city does not hold income data.
//
// Thread-safety: plain functions over values; safe to call from several threads.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/base/date.h"
#include "engine/base/status.h"
#include "engine/eval/population.h"
#include "engine/lang/diagnostics.h"
#include "engine/lang/yaml_source.h"

namespace ennakko {

struct TestPopulation {
  Population population;
  std::map<std::string, PersonIndex> index_of;  // local name -> person index
  std::vector<std::string> name_of;             // person index -> local name
};

// Builds the population described by the mapping at `pointer` in `doc` (name -> fields), with
// custody in force on `at`. On any problem: diagnostics at the offending nodes, InvalidArgument.
Result<TestPopulation> BuildTestPopulation(const YamlDocument& doc, const std::string& pointer, Date at,
                                           Diagnostics& diags);

// The resident fields a test may set, in the order the docs list them (for hints).
std::vector<std::string> TestResidentFieldNames();

}  // namespace ennakko
