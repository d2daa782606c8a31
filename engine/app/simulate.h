// `ennakko simulate`: what a rule set would decide for the whole stored population, and what
// would change against another rule set — before anyone reloads the daemon.
//
// What it is for: a rule author or lawyer changes a rule or a parameter and asks "how many
// families does this affect, and which way?". The sweep is engine/eval/sweep.h: parallel, with the
// allocation-free Evaluator::EvaluateCompact, whose verdicts are the ones the daemon records.
//
// Invariants: nothing is sent or written (the store is opened read-only, no audit events). Subjects
// appear only as pseudonyms, at most `examples` per transition. A transition is (service, from, to)
// with from = the --against rule set and to = the --rules set; "not_applicable" is a subject outside
// applies_to, "no_rule" a service one of the sets does not have.
//
// Thread-safety: SimulatePopulation only reads its arguments; it starts and joins its own workers.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "engine/base/date.h"
#include "engine/eval/population.h"
#include "engine/eval/program.h"

namespace ennakko {

struct SimulateOptions {
  // The daemon's configuration: store path and pseudonym key.
  std::string config_path = "deploy/ennakko.yaml";
  // The rules directory to simulate.
  std::string rules_dir;
  // A second rules directory (typically the one in production) to compare against; empty = none.
  std::string against_dir;
  // Evaluation date YYYY-MM-DD; unset = today in Helsinki.
  std::optional<std::string> at;
  // Example pseudonyms printed per transition.
  size_t examples = 20;
  // Sweep threads; below 1 = one per hardware thread.
  int threads = 0;
  // Draw a progress bar on stderr (the command sets this only when stderr is a terminal).
  bool progress = false;
};

struct Transition {
  int64_t count = 0;
  std::vector<int64_t> examples;  // store ids, at most SimulateOptions::examples
};

struct SimulationReport {
  int64_t residents = 0;
  std::string revision, against_revision;
  // service -> verdict -> count (subjects in applies_to only), for --rules and for --against
  std::map<std::string, std::map<std::string, int64_t>> counts, against_counts;
  // (service, from, to) -> subjects; only from != to
  std::map<std::tuple<std::string, std::string, std::string>, Transition> transitions;
  int64_t changed = 0;  // subjects x services whose verdict changes
};

// Called with (done, total) every so often during the sweep.
using ProgressFn = std::function<void(size_t done, size_t total)>;

// Evaluates every rule of `rules` (and of `against`, when not null) for every person on `at`, on
// `threads` worker threads (below 1: one per hardware thread). `progress` runs on this thread.
SimulationReport SimulatePopulation(const Population& population, const RuleSet& rules, const RuleSet* against, Date at,
                                    size_t examples, int threads = 0, const ProgressFn& progress = {});

// The report as text; `pseudonym_of` turns a store id into the pseudonym printed for examples.
std::string RenderSimulation(const SimulationReport& report, Date at, const std::string& rules_dir,
                             const std::string& against_dir, const std::function<std::string(int64_t)>& pseudonym_of);

// The command: exit 0, 1 when a rules directory has errors, 2 on config or store errors.
int RunSimulate(const SimulateOptions& options, std::ostream& out, std::ostream& err);

}  // namespace ennakko
