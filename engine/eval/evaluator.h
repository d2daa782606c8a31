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
  const std::string* missing_inner = nullptr;  // inside a definition: the fact it missed
  bool no_recipient = false;    // eligible but nobody alive to receive the offer: undetermined
  uint32_t missing_facts = 0;   // bit i: data_held fact i is not held
  uint32_t stale_facts = 0;     // bit i: data_held fact i is held but older than its max age
  int64_t consent_id = 0;       // permission by consent: the consent found (0: none)
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

  // Before sweeping the whole population: tabulate, for every rule whose applies_to reads only the
  // subject's birth date, its answer for each birth date present, so that most residents are
  // ruled out by one array read. Costs one evaluation per distinct birth date and rule.
  void PrepareSweep();

  // Values of parameters in force on the evaluation date, with their sources (for explanations).
  const std::vector<std::string>& param_sources() const { return param_sources_; }

 private:
  // A value during evaluation: a kind tag and one 64-bit payload (bool, int, decimal millionths,
  // string id, date or duration days, person index, or the element offset of a placement or an
  // income with its owner in `aux`). Lists are views: a relation of a person, a literal list, or
  // a range of the scratch buffer that filter and map fill.
  enum class VK : uint8_t { kUnknown, kNull, kBool, kInt, kDecimal, kString, kDate, kDuration, kPerson,
                            kPlacement, kIncome, kList };
  enum class ListOf : uint8_t { kGuardians, kChildren, kSiblings, kHousehold, kPlacements, kIncomes, kConst, kScratch, kParam };
  struct Value {
    VK kind = VK::kNull;
    ListOf list = ListOf::kConst;
    uint32_t aux = 0;  // unknown: path index; list: count (const, scratch); element: owner person
    int64_t i = 0;
  };
  struct Table {
    std::vector<std::pair<int64_t, int64_t>> entries;  // sorted by key
    int64_t per_extra = 0;
    VK kind = VK::kDecimal;
  };

  // Permission by consent: the id of an active consent for the rule's purpose from the person(s)
  // the rule names, or 0.
  int64_t FindConsent(size_t rule, PersonIndex subject) const;
  Value Eval(const CompiledExpr& e, int32_t node);
  Value EvalField(const CompiledExpr& e, const Node& n);
  Value EvalMacro(const CompiledExpr& e, const Node& n);
  Value Run(const CompiledExpr& e);
  size_t ListSize(const Value& list) const;
  Value ListItem(const CompiledExpr& e, const Value& list, size_t k);
  static bool Numeric(VK k) { return k == VK::kInt || k == VK::kDecimal; }
  static int64_t AsMicros(const Value& v) { return v.kind == VK::kDecimal ? v.i : v.i * kDecimalScale; }
  int Compare(const Value& a, const Value& b) const;
  static constexpr StringId kExtraString = 0x80000000u;
  const std::string& Text(int64_t id) const {
    StringId s = static_cast<StringId>(id);
    return (s & kExtraString) ? extra_strings_[s & ~kExtraString] : pop_.strings().Get(s);
  }

  const RuleSet& rules_;
  const Population& pop_;
  Date today_;
  PersonIndex subject_ = 0;
  std::vector<StringId> literal_ids_;
  std::vector<StringId> consent_purposes_;  // by rule: the consent purpose's id (kNoString: none held)
  std::vector<std::string> extra_strings_;  // rule strings absent from the population
  std::vector<Value> params_;         // bound to this population and date
  std::vector<Table> tables_;         // parameter tables, by param index (empty for scalars)
  std::vector<std::vector<Value>> param_lists_;  // list parameters' items (a kParam list's i indexes this)
  std::vector<std::string> param_sources_;
  std::vector<Value> slots_;
  std::vector<Value> scratch_;        // filter/map results; reused, so no allocation per resident
  const std::string* inner_missing_ = nullptr;  // set when a definition's result is unknown
  std::vector<std::vector<Value>> folded_;      // by expression id, node: constant subtrees
  bool folding_ = false;                        // true while folded_ is being computed
  int32_t window_first_ = 0;                    // PrepareSweep: birth date of window index 0
  std::vector<std::vector<uint8_t>> windows_;   // by rule: applies_to by birth date (empty: none)
  bool AppliesToSlow(size_t rule, PersonIndex subject);
};

}  // namespace ennakko
