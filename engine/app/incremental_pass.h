// IncrementalEvaluation: evaluation passes that keep the snapshot in memory, so that a connector's
// change batch re-evaluates only the affected subjects instead of everyone.
//
// A full pass (FullPass) loads the snapshot (LivePopulation) and evaluates every rule for every
// resident, as RunEvaluationPass does. The daemon runs one at start, after a rule reload, when the
// date changes (age-based rules depend on today: NeedsFullPass says so) and when a scheduled rule
// is due. Between them, Changed(ids) refreshes the snapshot for the changed residents and
// evaluates only the affected (rule, subject) pairs, recording decisions and queuing/cancelling
// offers for them alone (RecordDecisions).
//
// Who is affected, per rule, is derived from the rule's compiled expressions (applies_to, `when`
// clauses, offer_to, period and the definitions they call), not hard-coded: the changed residents
// themselves, and through each relation the rule reads the people whose view of it may have
// changed — a rule that reads subject.guardians (offer_to usually does) is re-evaluated for the
// wards of a changed guardian; subject.children for the guardians of a changed ward;
// siblings and household symmetrically. A rule that reads n relations within one expression is
// widened n hops (at most 2). Relations are followed in the snapshot before AND after the change,
// so a custody that ended or a household someone left still reaches the people it concerned.
//
// The result equals a full pass on the same data (incremental_test.cpp checks this on a synthetic
// city), except for one thing a full pass also does not do: a subject that falls out of a rule's
// applies_to keeps its last decision.
//
// Thread-safety: none; the daemon's main loop thread owns it (with its Db).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/app/evaluation_pass.h"
#include "engine/app/live_population.h"

namespace ennakko {

// Which relations a rule reads, and how many hops deep: the input of the widening.
struct RuleRelations {
  bool guardians = false, children = false, siblings = false, household = false;
  int hops = 0;  // the most relation reads in one expression, capped at 2
};
std::vector<RuleRelations> AnalyseRelations(const RuleSet& rules);

// Per rule, the store ids of the subjects to re-evaluate when `changed` changed. `before` is the
// snapshot before the change (may be nullptr), `after` the refreshed one. Sorted, unique.
std::vector<std::vector<int64_t>> AffectedSubjects(const RuleSet& rules, const std::vector<RuleRelations>& relations,
                                                   const Population* before, const Population& after,
                                                   const std::vector<int64_t>& changed);

class IncrementalEvaluation {
 public:
  IncrementalEvaluation(Db& db, const Clock& clock, AuditLog& audit, const Pseudonymizer& pseudonyms)
      : db_(db), clock_(clock), audit_(audit), pseudonyms_(pseudonyms) {}

  // Whether Changed would have to run a full pass: no snapshot yet, another rule revision, or
  // another day than the snapshot's.
  bool NeedsFullPass(const RuleSet& rules) const;

  // Reloads the snapshot and evaluates every rule for everyone.
  Result<PassStats> FullPass(const RuleSet& rules, const PassOptions& options = {});

  // Refreshes the snapshot for `changed` (store ids) and evaluates only the affected subjects.
  // Runs FullPass instead when NeedsFullPass.
  Result<PassStats> Changed(const RuleSet& rules, const std::vector<int64_t>& changed,
                            const PassOptions& options = {});

  // The (service, subject store id) pairs the last pass evaluated (subjects tested against
  // applies_to), for tests and logs. Empty after a full pass (everyone was).
  const std::vector<std::pair<std::string, int64_t>>& last_evaluated() const { return last_evaluated_; }
  const LivePopulation* live() const { return live_.get(); }

 private:
  Db& db_;
  const Clock& clock_;
  AuditLog& audit_;
  const Pseudonymizer& pseudonyms_;
  std::unique_ptr<LivePopulation> live_;
  std::string revision_;
  std::vector<RuleRelations> relations_;
  std::vector<std::pair<std::string, int64_t>> last_evaluated_;
};

}  // namespace ennakko
