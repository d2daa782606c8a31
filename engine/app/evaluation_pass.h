// One evaluation pass: load the population snapshot from the store, evaluate every rule for every
// resident it applies to, record each decision (with its five verdicts and reasons) and queue the
// offers of eligible decisions, all in one transaction, auditing what changed.
//
// Only changes are recorded and audited: re-running a pass over unchanged data writes nothing, so
// restarts and periodic sweeps do not flood the audit log. Runs on the daemon's worker thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/audit/audit_log.h"
#include "engine/audit/pseudonym.h"
#include "engine/base/date.h"
#include "engine/eval/evaluator.h"
#include "engine/store/sqlite.h"

namespace ennakko {

// Loads residents, custody in force on `today`, and placements into an evaluation snapshot, with
// the fetch dates (facts.fetched_at) of the person facts in `fresh` (RuleSet::freshness_fields).
Result<Population> LoadPopulation(Db& db, Date today, const std::vector<Field>& fresh = {});

struct PassStats {
  int64_t residents = 0;
  int64_t decisions = 0;          // decisions evaluated (subjects in a rule's applies_to)
  int64_t decisions_changed = 0;  // new or changed since the last pass, recorded and audited
  std::map<std::string, int64_t> by_verdict;
  int64_t offers_queued = 0;
  int64_t offers_cancelled = 0;   // queued offers whose decision stopped being eligible
  double load_seconds = 0, evaluate_seconds = 0, record_seconds = 0;
};

struct PassOptions {
  // For rules with a trigger.schedule: whether a scheduled run is due in this pass. Eligible
  // decisions of a scheduled rule queue their offers only when it is (see RuleSchedules).
  std::function<bool(const RuleSpec&)> due;
};

Result<PassStats> RunEvaluationPass(Db& db, const RuleSet& rules, const Clock& clock,
                                    AuditLog& audit, const Pseudonymizer& pseudonyms,
                                    const PassOptions& options = {});

// The recording half of a pass, for decisions evaluated on `population` (a full pass's or an
// incremental one's, see incremental_pass.h): in one transaction, records the decisions that
// changed, queues the offers of eligible ones and cancels queued offers of decisions no longer
// eligible, auditing each. Adds to out->decisions_changed, by_verdict, offers_*, record_seconds.
Status RecordDecisions(Db& db, const RuleSet& rules, const Population& population,
                       const std::vector<Decision>& decisions, const Clock& clock, AuditLog& audit,
                       const Pseudonymizer& pseudonyms, const PassOptions& options, PassStats* out);

// The last scheduled run of each rule, kept in the store (rule_runs) so restarts keep the rhythm.
class RuleSchedules {
 public:
  RuleSchedules(Db& db, const Clock& clock) : db_(db), clock_(clock) {}
  // Whether `rule`'s schedule has a due moment after its last run. A rule seen for the first time
  // records now as its last run and is not due: deploying a yearly campaign in November does not
  // send it at once, it waits for its date.
  Result<bool> Due(const RuleSpec& rule);
  // Records now as the last run of every rule found due (call after the pass committed).
  Status MarkRun(const std::vector<std::string>& services);

 private:
  Db& db_;
  const Clock& clock_;
};

}  // namespace ennakko
