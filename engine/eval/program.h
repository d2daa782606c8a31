// Compiled rules: each checked expression becomes a flat array of nodes evaluated by a switch,
// with no allocation, string comparison or map lookup per resident.
//
// A RuleSet is compiled once from RuleSources and is immutable: share it between threads and swap
// it whole on reload. Evaluation state (macro variable slots, literal string ids bound to one
// population, parameter values in force on one date) lives in an Evaluator, one per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/base/status.h"
#include "engine/eval/population.h"
#include "engine/lang/rule.h"

namespace ennakko {

enum class Op : uint8_t {
  kConstBool, kConstInt, kConstNull, kConstString /*imm = literal index*/, kConstDate,
  kConstDecimal /*imm = millionths*/,
  kConstList /*a = first element node index in `lists`, b = count*/,
  kSubject, kToday, kSlot /*imm = slot*/, kParam /*imm = param index*/,
  kIndex /*imm = param index of the table, a = key*/,
  kField /*a = operand, imm = Field, flag = nullable*/,
  kNot, kNeg, kAnd, kOr, kEq, kNe, kLt, kLe, kGt, kGe, kAdd, kSub, kMul, kDiv, kMod, kIn,
  kCond, kYear, kMonth, kAgeAt, kSize,
  // Macros: a = list, b = body, imm = the variable's slot.
  kExists, kAll, kCount, kFilter, kMap, kSum, kMin, kMax,
  kAddDays, kAddMonths, kAddYears, kDaysBetween, kMonthsBetween, kStartOfMonth, kStartOfYear,
  kDays, kInDays, kRound /*imm = digits*/, kFloor, kCeil, kToDecimal,
  kStartsWith, kEndsWith, kContains,
  kDefinition /*imm = definition index, a = argument*/,
  kLeast, kGreatest /*scalar min(a, b), max(a, b)*/,
};

struct Node {
  Op op;
  bool flag = false;
  int32_t a = -1, b = -1, c = -1;  // child node indexes
  int64_t imm = 0;
  uint32_t path = 0;  // index into CompiledExpr::paths: what is missing when this is unknown
  // A subtree that depends only on literals, today and parameters (e.g. `year(today) - 6`): the
  // evaluator computes it once per evaluation date instead of once per resident.
  bool folded = false;
};

struct CompiledExpr {
  std::vector<Node> nodes;  // root is the last node
  std::vector<int32_t> list_items;  // kConstList element node indexes
  std::vector<std::string> paths;   // source text of fact accesses, for "missing: ..." reasons
  std::string text;
  int slots = 0;
  uint32_t id = 0;  // unique within its RuleSet: indexes per-expression evaluator state
  bool empty() const { return nodes.empty(); }
};

struct CompiledRule {
  const RuleSpec* spec = nullptr;  // owned by the RuleSet's sources
  CompiledExpr applies_to;
  std::vector<CompiledExpr> clauses;
  CompiledExpr offer_to;
  CompiledExpr period;
  std::vector<Field> data_held;
  std::vector<std::string> data_held_names;
  std::vector<int32_t> data_held_max_age;  // days; 0 = no freshness requirement
  bool public_task = false;     // permission basis, decided once
  // Permission basis consent: an active consent for consent_purpose from the subject, or (when
  // consent_from_guardians) from any one of the subject's guardians.
  bool consent = false;
  bool consent_from_guardians = false;
  std::string consent_purpose;
  bool has_obligation = false;
  bool has_benefit = false;
  // applies_to reads no fact but the subject's birth date: a sweep can tabulate it by date.
  bool applies_by_birth_date_only = false;
};

class RuleSet {
 public:
  static Result<std::shared_ptr<const RuleSet>> Compile(std::shared_ptr<const RuleSources> sources);
  const std::vector<CompiledRule>& rules() const { return rules_; }
  const RuleSources& sources() const { return *sources_; }
  const std::string& revision() const { return sources_->revision; }
  // Literal strings of every expression, by index (kConstString imm).
  const std::vector<std::string>& literals() const { return literals_; }
  // Parameter names by index (kParam imm).
  const std::vector<std::string>& param_names() const { return param_names_; }
  // Compiled named definitions, by index (kDefinition imm); slot 0 holds the argument.
  const std::vector<CompiledExpr>& definitions() const { return definitions_; }
  // Person facts some rule requires fresh (data_held max_age_days): the snapshot must carry when
  // each was fetched.
  std::vector<Field> freshness_fields() const;
  // Every compiled expression of the set (rules' and definitions'), by id.
  const std::vector<const CompiledExpr*>& expressions() const { return expressions_; }

 private:
  std::shared_ptr<const RuleSources> sources_;
  std::vector<CompiledRule> rules_;
  std::vector<std::string> literals_;
  std::vector<std::string> param_names_;
  std::vector<CompiledExpr> definitions_;
  std::vector<const CompiledExpr*> expressions_;
};

}  // namespace ennakko
