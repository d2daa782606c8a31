// Evaluates compiled rules for one resident at a time and produces decisions with the verdict of
// each of the five conditions and the reasons behind them.
//
// Three-valued: a fact the city does not hold makes an expression *unknown* (carrying the missing
// path), never silently false; unknown propagates through comparisons and arithmetic, and && / ||
// follow Kleene logic (false && unknown is false). An Evaluator binds one RuleSet to one Population
// and one evaluation date; it is not thread-safe — use one per thread (they are cheap).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/eval/population.h"
#include "engine/eval/program.h"

namespace ennakko {

enum class Tri : uint8_t { kNo, kYes, kUndetermined };
enum class Verdict : uint8_t { kEligible, kNotEligible, kUndetermined, kExcluded };

const char* TriName(Tri t);          // "no" | "yes" | "undetermined"
const char* VerdictName(Verdict v);  // "eligible" | "not_eligible" | "undetermined" | "excluded"

enum Condition : uint8_t { kDataHeld, kPermission, kObligation, kEligibility, kBenefit, kConditionCount };
const char* ConditionName(Condition c);  // "data_held", ...

struct Decision {
  size_t rule = 0;
  PersonIndex subject = 0;
  Verdict verdict = Verdict::kUndetermined;
  std::array<Tri, kConditionCount> conditions{};
  std::vector<std::string> reasons;        // plain words, no personal data
  std::vector<PersonIndex> recipients;     // for offers: who receives it
  std::string period;
};

// The verdicts of one decision without any text: what a sweep over the whole population needs.
// Reasons are derived from it on demand (Evaluate), so the hot loop never allocates.
struct CompactDecision {
  Verdict verdict = Verdict::kUndetermined;
  std::array<Tri, kConditionCount> conditions{};
  int16_t failed_clause = -1;   // the first false eligibility clause
  int16_t unknown_clause = -1;  // the first undetermined clause
  uint32_t missing_path = 0;    // in that clause's paths: what is not held
  uint32_t missing_facts = 0;   // bit i: data_held fact i is not held
};

class Evaluator {
 public:
  Evaluator(const RuleSet& rules, const Population& population, Date today);

  // Evaluates rule `rule` for `subject`. Returns false (and leaves `out` untouched) when the subject
  // is outside the rule's applies_to; true with the decision otherwise.
  bool Evaluate(size_t rule, PersonIndex subject, Decision* out);

  // The allocation-free fast path: false when the subject is outside applies_to. Offer recipients
  // and the period are not computed here (see Evaluate).
  bool EvaluateCompact(size_t rule, PersonIndex subject, CompactDecision* out);

  // Only applies_to: the cheap pre-filter of a sweep.
  bool AppliesTo(size_t rule, PersonIndex subject);

  // Values of parameters in force on the evaluation date, with their sources (for explanations).
  const std::vector<std::string>& param_sources() const { return param_sources_; }

 private:
  struct Value;
  Value Eval(const CompiledExpr& e, int32_t node);
  Value EvalField(const CompiledExpr& e, const Node& n);
  Value Run(const CompiledExpr& e);

  const RuleSet& rules_;
  const Population& pop_;
  Date today_;
  PersonIndex subject_ = 0;
  std::vector<StringId> literal_ids_;
  std::vector<int64_t> param_values_;   // bound to this population and date
  std::vector<uint8_t> param_kinds_;
  std::vector<std::string> param_sources_;
  std::vector<int64_t> slots_;
  std::vector<uint8_t> slot_kinds_;
};

}  // namespace ennakko
