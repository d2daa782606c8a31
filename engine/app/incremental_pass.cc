#include "engine/app/incremental_pass.h"

#include <algorithm>
#include <chrono>
#include <unordered_set>

namespace ennakko {

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Adds the relations `e` reads (following definitions) to `out`; returns the relation reads seen.
int ScanExpr(const RuleSet& rules, const CompiledExpr& e, RuleRelations* out, int depth = 0) {
  int reads = 0;
  for (const Node& n : e.nodes) {
    if (n.op == Op::kField) {
      switch (static_cast<Field>(n.imm)) {
        case Field::kGuardians: out->guardians = true; ++reads; break;
        case Field::kChildren: out->children = true; ++reads; break;
        case Field::kSiblings: out->siblings = true; ++reads; break;
        case Field::kHousehold: out->household = true; ++reads; break;
        default: break;
      }
    } else if (n.op == Op::kDefinition && depth < 8) {
      const auto& defs = rules.definitions();
      if (n.imm >= 0 && static_cast<size_t>(n.imm) < defs.size()) {
        reads += ScanExpr(rules, defs[static_cast<size_t>(n.imm)], out, depth + 1);
      }
    }
  }
  return reads;
}

void AddRelated(const Population& pop, const RuleRelations& rel, const std::vector<int64_t>& from,
                std::unordered_set<int64_t>& out) {
  for (int64_t id : from) {
    int64_t i = pop.IndexOf(id);
    if (i < 0) continue;
    auto p = static_cast<PersonIndex>(i);
    auto add = [&](std::span<const PersonIndex> list) {
      for (PersonIndex q : list) out.insert(pop.store_id(q));
    };
    // Who reads p through the relation: a reader of subject.guardians is a ward of p, and so on.
    if (rel.guardians) add(pop.children(p));
    if (rel.children) add(pop.guardians(p));
    if (rel.siblings) add(pop.siblings(p));
    if (rel.household) add(pop.household(p));
  }
}

}  // namespace

std::vector<RuleRelations> AnalyseRelations(const RuleSet& rules) {
  std::vector<RuleRelations> out(rules.rules().size());
  for (size_t r = 0; r < rules.rules().size(); ++r) {
    const CompiledRule& rule = rules.rules()[r];
    int hops = 0;
    hops = std::max(hops, ScanExpr(rules, rule.applies_to, &out[r]));
    for (const auto& c : rule.clauses) hops = std::max(hops, ScanExpr(rules, c, &out[r]));
    hops = std::max(hops, ScanExpr(rules, rule.offer_to, &out[r]));
    hops = std::max(hops, ScanExpr(rules, rule.period, &out[r]));
    out[r].hops = std::min(hops, 2);
  }
  return out;
}

std::vector<std::vector<int64_t>> AffectedSubjects(const RuleSet& rules, const std::vector<RuleRelations>& relations,
                                                   const Population* before, const Population& after,
                                                   const std::vector<int64_t>& changed) {
  std::vector<std::vector<int64_t>> out(rules.rules().size());
  for (size_t r = 0; r < out.size(); ++r) {
    const RuleRelations& rel = relations[r];
    std::unordered_set<int64_t> set(changed.begin(), changed.end());
    std::vector<int64_t> frontier = changed;
    for (int hop = 0; hop < rel.hops && !frontier.empty(); ++hop) {
      std::unordered_set<int64_t> next;
      if (before) AddRelated(*before, rel, frontier, next);
      AddRelated(after, rel, frontier, next);
      frontier.clear();
      for (int64_t id : next) {
        if (set.insert(id).second) frontier.push_back(id);
      }
    }
    out[r].assign(set.begin(), set.end());
    std::sort(out[r].begin(), out[r].end());
  }
  return out;
}

bool IncrementalEvaluation::NeedsFullPass(const RuleSet& rules) const {
  return !live_ || revision_ != rules.revision() || live_->today() != clock_.Today();
}

Result<PassStats> IncrementalEvaluation::FullPass(const RuleSet& rules, const PassOptions& options) {
  PassStats stats;
  last_evaluated_.clear();
  const Date today = clock_.Today();
  auto t0 = std::chrono::steady_clock::now();
  live_.reset();  // a failed load leaves no stale snapshot behind
  auto live = LivePopulation::Load(db_, today, rules.freshness_fields());
  if (!live.ok()) return live.status();
  const Population& pop = (*live)->population();
  stats.residents = static_cast<int64_t>(pop.size());
  stats.load_seconds = Seconds(t0);

  t0 = std::chrono::steady_clock::now();
  Evaluator ev(rules, pop, today);
  ev.PrepareSweep();
  std::vector<Decision> decisions;
  for (size_t r = 0; r < rules.rules().size(); ++r) {
    for (PersonIndex p = 0; p < pop.size(); ++p) {
      Decision d;
      if (ev.AppliesTo(r, p) && ev.Evaluate(r, p, &d)) decisions.push_back(std::move(d));
    }
  }
  stats.decisions = static_cast<int64_t>(decisions.size());
  stats.evaluate_seconds = Seconds(t0);
  ENNAKKO_RETURN_IF_ERROR(RecordDecisions(db_, rules, pop, decisions, clock_, audit_, pseudonyms_, options, &stats));
  live_ = std::move(*live);
  revision_ = rules.revision();
  relations_ = AnalyseRelations(rules);
  return stats;
}

Result<PassStats> IncrementalEvaluation::Changed(const RuleSet& rules, const std::vector<int64_t>& changed,
                                                 const PassOptions& options) {
  if (NeedsFullPass(rules)) return FullPass(rules, options);
  PassStats stats;
  last_evaluated_.clear();
  auto t0 = std::chrono::steady_clock::now();
  auto before = live_->Refresh(db_, changed);
  if (!before.ok()) {
    live_.reset();  // the snapshot may be half-patched: the next pass reloads it whole
    return before.status();
  }
  const Population& pop = live_->population();
  stats.residents = static_cast<int64_t>(pop.size());
  auto affected = AffectedSubjects(rules, relations_, &*before, pop, changed);
  stats.load_seconds = Seconds(t0);

  t0 = std::chrono::steady_clock::now();
  Evaluator ev(rules, pop, live_->today());
  std::vector<Decision> decisions;
  for (size_t r = 0; r < rules.rules().size(); ++r) {
    const std::string& service = rules.rules()[r].spec->service;
    for (int64_t id : affected[r]) {
      int64_t i = pop.IndexOf(id);
      if (i < 0) continue;  // no longer in the store
      last_evaluated_.emplace_back(service, id);
      Decision d;
      if (ev.Evaluate(r, static_cast<PersonIndex>(i), &d)) decisions.push_back(std::move(d));
    }
  }
  stats.decisions = static_cast<int64_t>(decisions.size());
  stats.evaluate_seconds = Seconds(t0);
  Status recorded = RecordDecisions(db_, rules, pop, decisions, clock_, audit_, pseudonyms_, options, &stats);
  if (!recorded.ok()) {
    // The snapshot holds the change but its decisions were not recorded: make the next pass full.
    live_.reset();
    return recorded;
  }
  return stats;
}

}  // namespace ennakko
