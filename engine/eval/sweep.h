// A sweep: every rule of a RuleSet evaluated for every resident of a Population on one date, on
// several threads, counting the verdicts. This is what a full re-evaluation, `simulate` and the
// benchmarks run.
//
// The sweep uses Evaluator::EvaluateCompact, so the loop allocates nothing per resident: decisions
// are counted, and handed to an optional callback without reasons, recipients or period (derive
// those with Evaluator::Evaluate for the few that need them). The counts are EvaluateCompact's
// verdicts: an eligible decision whose offer has no living recipient counts as eligible here,
// while Evaluate turns it into undetermined (18 of 406,101 decisions in the benchmark city).
//
// Work is split into blocks of consecutive residents that worker threads claim in order; each
// worker has its own Evaluator and its own counters, merged when all have finished, so the counts
// do not depend on the number of threads. Within a block a worker evaluates rule by rule, so one
// rule's program and the block's facts stay in cache.
//
// Thread-safety: Sweep itself may be called from any thread; the RuleSet and Population are only
// read. `on_decision` is called from the worker threads concurrently and must be thread-safe;
// `on_progress` is called only on the thread that called Sweep.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/base/date.h"
#include "engine/eval/evaluator.h"
#include "engine/eval/population.h"
#include "engine/eval/program.h"

namespace ennakko {

// Called for each decision (a subject inside the rule's applies_to). REQUIRES: thread-safe.
using DecisionCallback = std::function<void(size_t rule, PersonIndex subject, const CompactDecision&)>;
// Called with residents done so far and the population size; the last call has done == total.
using ProgressCallback = std::function<void(size_t done, size_t total)>;

struct SweepOptions {
  // Worker threads; values below 1 mean one per hardware thread.
  int threads = 1;
  // Residents per block a worker claims at a time: large enough to amortise the claim, small
  // enough to balance the threads and keep a block's facts in cache.
  size_t block = 4096;
  // Optional: every decision, from the worker threads (see DecisionCallback).
  DecisionCallback on_decision;
  // Optional: progress, on the calling thread, about every `progress_interval_ms` and at the end.
  ProgressCallback on_progress;
  int progress_interval_ms = 200;
};

struct RuleSweepCounts {
  int64_t subjects = 0;  // residents inside applies_to, i.e. decisions made
  std::array<int64_t, 4> by_verdict{};  // indexed by Verdict
};

struct SweepResult {
  std::vector<RuleSweepCounts> by_rule;  // indexed like RuleSet::rules()
  int64_t residents = 0;
  int64_t rule_decisions = 0;  // rules × residents: each applies_to tested, and decided if inside
  int64_t subjects = 0;        // sum of by_rule[].subjects
  int threads = 0;             // worker threads actually used
  double seconds = 0;          // wall time of the evaluation (threads started to joined)

  int64_t verdicts(Verdict v) const;  // summed over the rules
};

SweepResult Sweep(const RuleSet& rules, const Population& population, Date at, const SweepOptions& options);

// The short form: `threads` workers, an optional decision callback (may be nullptr).
SweepResult Sweep(const RuleSet& rules, const Population& population, Date at, int threads,
                  const DecisionCallback* on_decision = nullptr);

}  // namespace ennakko
