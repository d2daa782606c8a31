#include "engine/eval/evaluator.h"

#include <fmt/format.h>

namespace ennakko {

const char* TriName(Tri t) {
  switch (t) {
    case Tri::kNo: return "no";
    case Tri::kYes: return "yes";
    case Tri::kUndetermined: return "undetermined";
  }
  return "?";
}

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kEligible: return "eligible";
    case Verdict::kNotEligible: return "not_eligible";
    case Verdict::kUndetermined: return "undetermined";
    case Verdict::kExcluded: return "excluded";
  }
  return "?";
}

const char* ConditionName(Condition c) {
  static const char* kNames[] = {"data_held", "permission", "obligation", "eligibility", "benefit"};
  return kNames[c];
}

// A value during evaluation: a kind tag and one 64-bit payload (bool, int, string id, date days,
// person index, placement index, or for lists the owner person and the relation).
enum class VK : uint8_t { kUnknown, kNull, kBool, kInt, kString, kDate, kPerson, kPlacement, kList };
enum class ListOf : uint8_t { kGuardians, kChildren, kPlacements, kConst };

struct Evaluator::Value {
  VK kind = VK::kNull;
  ListOf list = ListOf::kConst;
  uint32_t aux = 0;  // unknown: path index; const list: count; placement: owner person
  int64_t i = 0;

  static Value Unknown(uint32_t path) { return {VK::kUnknown, ListOf::kConst, path, 0}; }
  static Value Bool(bool b) { return {VK::kBool, ListOf::kConst, 0, b}; }
  static Value Int(int64_t v) { return {VK::kInt, ListOf::kConst, 0, v}; }
  static Value Null() { return {}; }
};

namespace {
// Placement indexes are global into the population's placements; recover the element.
}  // namespace

Evaluator::Evaluator(const RuleSet& rules, const Population& population, Date today)
    : rules_(rules), pop_(population), today_(today) {
  for (const auto& lit : rules.literals()) {
    StringId id = population.strings().Find(lit);
    // A literal the population never saw must not equal anything: give it an id past the table.
    literal_ids_.push_back(id == kNoString ? 0xFFFFFFF0u : id);
  }
  for (const auto& name : rules.param_names()) {
    const ParamSpec& p = rules.sources().params.at(name);
    const ParamValue* v = p.InForce(today);
    if (!v) {
      param_kinds_.push_back(static_cast<uint8_t>(VK::kUnknown));
      param_values_.push_back(0);
      param_sources_.push_back(name + ": no value in force on " + today.ToString());
      continue;
    }
    param_sources_.push_back(fmt::format("{} = {} (from {}; {})", name, v->value.dump(), v->from.ToString(), v->source));
    switch (p.type.kind) {
      case TypeKind::kInt:
        param_kinds_.push_back(static_cast<uint8_t>(VK::kInt));
        param_values_.push_back(v->value.get<int64_t>());
        break;
      case TypeKind::kBool:
        param_kinds_.push_back(static_cast<uint8_t>(VK::kBool));
        param_values_.push_back(v->value.get<bool>());
        break;
      case TypeKind::kDate:
        param_kinds_.push_back(static_cast<uint8_t>(VK::kDate));
        param_values_.push_back(Date::Parse(v->value.get<std::string>())->days);
        break;
      default: {
        StringId id = population.strings().Find(v->value.get<std::string>());
        param_kinds_.push_back(static_cast<uint8_t>(VK::kString));
        param_values_.push_back(id == kNoString ? 0xFFFFFFF1u : id);
      }
    }
  }
  int max_slots = 0;
  for (const auto& r : rules.rules()) {
    for (const auto* e : {&r.applies_to, &r.offer_to, &r.period}) max_slots = std::max(max_slots, e->slots);
    for (const auto& c : r.clauses) max_slots = std::max(max_slots, c.slots);
  }
  slots_.assign(static_cast<size_t>(max_slots), 0);
  slot_kinds_.assign(static_cast<size_t>(max_slots), 0);
}

Evaluator::Value Evaluator::EvalField(const CompiledExpr& e, const Node& n) {
  Value obj = Eval(e, n.a);
  if (obj.kind == VK::kUnknown) return obj;
  if (obj.kind == VK::kNull) return Value::Unknown(n.path);
  Field f = static_cast<Field>(n.imm);
  if (obj.kind == VK::kPlacement) {
    const Placement& pl = pop_.placements(obj.aux)[static_cast<size_t>(obj.i)];
    switch (f) {
      case Field::kPlacementKind:
        return pl.kind == kNoString ? Value::Unknown(n.path) : Value{VK::kString, ListOf::kConst, 0, pl.kind};
      case Field::kPlacementStart:
        return pl.start == kNoDate ? Value::Null() : Value{VK::kDate, ListOf::kConst, 0, pl.start};
      case Field::kPlacementEnd:
        return pl.end == kNoDate ? Value::Null() : Value{VK::kDate, ListOf::kConst, 0, pl.end};
      default: return Value::Unknown(n.path);
    }
  }
  PersonIndex p = static_cast<PersonIndex>(obj.i);
  switch (f) {
    case Field::kBirthDate: {
      int32_t d = pop_.birth_date(p);
      return d == kNoDate ? Value::Unknown(n.path) : Value{VK::kDate, ListOf::kConst, 0, d};
    }
    case Field::kDeathDate: {
      int32_t d = pop_.death_date(p);
      return d == kNoDate ? Value::Null() : Value{VK::kDate, ListOf::kConst, 0, d};
    }
    case Field::kAlive: return Value::Bool(pop_.death_date(p) == kNoDate);
    case Field::kMunicipality: {
      StringId s = pop_.municipality(p);
      return s == kNoString ? Value::Unknown(n.path) : Value{VK::kString, ListOf::kConst, 0, s};
    }
    case Field::kLanguage: {
      StringId s = pop_.language(p);
      return s == kNoString ? Value::Unknown(n.path) : Value{VK::kString, ListOf::kConst, 0, s};
    }
    case Field::kAddressProtected: return Value::Bool(pop_.address_protected(p));
    case Field::kGuardians: return {VK::kList, ListOf::kGuardians, 0, p};
    case Field::kChildren: return {VK::kList, ListOf::kChildren, 0, p};
    case Field::kPlacements: return {VK::kList, ListOf::kPlacements, 0, p};
    default: return Value::Unknown(n.path);
  }
}

Evaluator::Value Evaluator::Eval(const CompiledExpr& e, int32_t idx) {
  const Node& n = e.nodes[static_cast<size_t>(idx)];
  switch (n.op) {
    case Op::kConstBool: return Value::Bool(n.imm != 0);
    case Op::kConstInt: return Value::Int(n.imm);
    case Op::kConstNull: return Value::Null();
    case Op::kConstString: return {VK::kString, ListOf::kConst, 0, literal_ids_[static_cast<size_t>(n.imm)]};
    case Op::kConstDate: return {VK::kDate, ListOf::kConst, 0, n.imm};
    case Op::kConstList: return {VK::kList, ListOf::kConst, static_cast<uint32_t>(n.b), n.a};
    case Op::kSubject: return {VK::kPerson, ListOf::kConst, 0, subject_};
    case Op::kToday: return {VK::kDate, ListOf::kConst, 0, today_.days};
    case Op::kSlot: {
      size_t s = static_cast<size_t>(n.imm);
      Value v{static_cast<VK>(slot_kinds_[s]), ListOf::kConst, 0, slots_[s]};
      if (v.kind == VK::kPlacement) {
        // Placement slots pack owner and offset: owner in the high 32 bits.
        v.aux = static_cast<uint32_t>(slots_[s] >> 32);
        v.i = slots_[s] & 0xFFFFFFFF;
      }
      return v;
    }
    case Op::kParam: {
      size_t p = static_cast<size_t>(n.imm);
      VK k = static_cast<VK>(param_kinds_[p]);
      return k == VK::kUnknown ? Value::Unknown(n.path) : Value{k, ListOf::kConst, 0, param_values_[p]};
    }
    case Op::kField: return EvalField(e, n);
    case Op::kNot: {
      Value a = Eval(e, n.a);
      return a.kind == VK::kUnknown ? a : Value::Bool(!a.i);
    }
    case Op::kNeg: {
      Value a = Eval(e, n.a);
      return a.kind == VK::kUnknown ? a : Value::Int(-a.i);
    }
    case Op::kAnd: {
      Value a = Eval(e, n.a);
      if (a.kind == VK::kBool && !a.i) return a;
      Value b = Eval(e, n.b);
      if (b.kind == VK::kBool && !b.i) return b;
      if (a.kind == VK::kUnknown) return a;
      return b;
    }
    case Op::kOr: {
      Value a = Eval(e, n.a);
      if (a.kind == VK::kBool && a.i) return a;
      Value b = Eval(e, n.b);
      if (b.kind == VK::kBool && b.i) return b;
      if (a.kind == VK::kUnknown) return a;
      return b;
    }
    case Op::kEq:
    case Op::kNe: {
      Value a = Eval(e, n.a), b = Eval(e, n.b);
      if (a.kind == VK::kUnknown) return a;
      if (b.kind == VK::kUnknown) return b;
      bool eq = a.kind == b.kind && (a.kind == VK::kNull || (a.i == b.i && a.aux == b.aux));
      return Value::Bool(n.op == Op::kEq ? eq : !eq);
    }
    case Op::kLt: case Op::kLe: case Op::kGt: case Op::kGe: {
      Value a = Eval(e, n.a), b = Eval(e, n.b);
      if (a.kind == VK::kUnknown) return a;
      if (b.kind == VK::kUnknown) return b;
      if (a.kind == VK::kNull || b.kind == VK::kNull) return Value::Bool(false);
      int64_t x = a.i, y = b.i;
      if (a.kind == VK::kString) {
        const auto& sx = pop_.strings().Get(static_cast<StringId>(x));
        const auto& sy = pop_.strings().Get(static_cast<StringId>(y));
        x = sx.compare(sy);
        y = 0;
      }
      bool r = n.op == Op::kLt ? x < y : n.op == Op::kLe ? x <= y : n.op == Op::kGt ? x > y : x >= y;
      return Value::Bool(r);
    }
    case Op::kAdd: case Op::kSub: case Op::kMul: case Op::kDiv: case Op::kMod: {
      Value a = Eval(e, n.a), b = Eval(e, n.b);
      if (a.kind == VK::kUnknown) return a;
      if (b.kind == VK::kUnknown) return b;
      switch (n.op) {
        case Op::kAdd: return Value::Int(a.i + b.i);
        case Op::kSub: return Value::Int(a.i - b.i);
        case Op::kMul: return Value::Int(a.i * b.i);
        case Op::kDiv: return b.i == 0 ? Value::Unknown(n.path) : Value::Int(a.i / b.i);
        default: return b.i == 0 ? Value::Unknown(n.path) : Value::Int(a.i % b.i);
      }
    }
    case Op::kIn: {
      Value a = Eval(e, n.a), list = Eval(e, n.b);
      if (a.kind == VK::kUnknown) return a;
      if (list.kind == VK::kUnknown) return list;
      for (uint32_t k = 0; k < list.aux; ++k) {
        Value item = Eval(e, e.list_items[static_cast<size_t>(list.i) + k]);
        if (item.kind == a.kind && item.i == a.i) return Value::Bool(true);
      }
      return Value::Bool(false);
    }
    case Op::kCond: {
      Value c = Eval(e, n.a);
      if (c.kind == VK::kUnknown) return c;
      return Eval(e, c.i ? n.b : n.c);
    }
    case Op::kYear:
    case Op::kMonth: {
      Value a = Eval(e, n.a);
      if (a.kind != VK::kDate) return a.kind == VK::kUnknown ? a : Value::Unknown(n.path);
      Date d{static_cast<int32_t>(a.i)};
      return Value::Int(n.op == Op::kYear ? d.year() : d.month());
    }
    case Op::kAgeAt: {
      Value a = Eval(e, n.a), b = Eval(e, n.b);
      if (a.kind == VK::kUnknown) return a;
      if (b.kind == VK::kUnknown) return b;
      if (a.kind != VK::kDate || b.kind != VK::kDate) return Value::Unknown(n.path);
      return Value::Int(AgeAt(Date{static_cast<int32_t>(a.i)}, Date{static_cast<int32_t>(b.i)}));
    }
    case Op::kSize: {
      Value l = Eval(e, n.a);
      if (l.kind != VK::kList) return l;
      PersonIndex owner = static_cast<PersonIndex>(l.i);
      switch (l.list) {
        case ListOf::kGuardians: return Value::Int(static_cast<int64_t>(pop_.guardians(owner).size()));
        case ListOf::kChildren: return Value::Int(static_cast<int64_t>(pop_.children(owner).size()));
        case ListOf::kPlacements: return Value::Int(static_cast<int64_t>(pop_.placements(owner).size()));
        case ListOf::kConst: return Value::Int(l.aux);
      }
      return Value::Int(0);
    }
    case Op::kExists:
    case Op::kAll:
    case Op::kCount: {
      Value l = Eval(e, n.a);
      if (l.kind != VK::kList) return l.kind == VK::kUnknown ? l : Value::Unknown(n.path);
      size_t slot = static_cast<size_t>(n.imm);
      PersonIndex owner = static_cast<PersonIndex>(l.i);
      size_t count = 0;
      switch (l.list) {
        case ListOf::kGuardians: count = pop_.guardians(owner).size(); break;
        case ListOf::kChildren: count = pop_.children(owner).size(); break;
        case ListOf::kPlacements: count = pop_.placements(owner).size(); break;
        case ListOf::kConst: count = l.aux; break;
      }
      int64_t hits = 0;
      bool unknown = false;
      Value first_unknown;
      for (size_t k = 0; k < count; ++k) {
        switch (l.list) {
          case ListOf::kGuardians:
            slot_kinds_[slot] = static_cast<uint8_t>(VK::kPerson);
            slots_[slot] = pop_.guardians(owner)[k];
            break;
          case ListOf::kChildren:
            slot_kinds_[slot] = static_cast<uint8_t>(VK::kPerson);
            slots_[slot] = pop_.children(owner)[k];
            break;
          case ListOf::kPlacements:
            slot_kinds_[slot] = static_cast<uint8_t>(VK::kPlacement);
            slots_[slot] = (static_cast<int64_t>(owner) << 32) | static_cast<int64_t>(k);
            break;
          case ListOf::kConst: {
            Value item = Eval(e, e.list_items[static_cast<size_t>(l.i) + k]);
            slot_kinds_[slot] = static_cast<uint8_t>(item.kind);
            slots_[slot] = item.i;
            break;
          }
        }
        Value r = Eval(e, n.b);
        if (r.kind == VK::kUnknown) {
          if (!unknown) first_unknown = r;
          unknown = true;
          continue;
        }
        if (r.i) {
          ++hits;
          if (n.op == Op::kExists) return Value::Bool(true);
        } else if (n.op == Op::kAll) {
          return Value::Bool(false);
        }
      }
      if (unknown) return first_unknown;
      if (n.op == Op::kCount) return Value::Int(hits);
      return Value::Bool(n.op == Op::kAll);
    }
  }
  return Value::Unknown(n.path);
}

Evaluator::Value Evaluator::Run(const CompiledExpr& e) {
  return Eval(e, static_cast<int32_t>(e.nodes.size()) - 1);
}

bool Evaluator::AppliesTo(size_t rule, PersonIndex subject) {
  subject_ = subject;
  const CompiledRule& r = rules_.rules()[rule];
  if (r.applies_to.empty()) return true;
  Value v = Run(r.applies_to);
  return v.kind == VK::kBool && v.i;
}

bool Evaluator::EvaluateCompact(size_t rule, PersonIndex subject, CompactDecision* out) {
  if (!AppliesTo(rule, subject)) return false;
  const CompiledRule& r = rules_.rules()[rule];
  const RuleSpec& spec = *r.spec;
  CompactDecision d;

  // 1. Data held: every declared fact present (a required list such as guardians non-empty).
  d.conditions[kDataHeld] = Tri::kYes;
  for (size_t k = 0; k < r.data_held.size(); ++k) {
    bool held = true;
    switch (r.data_held[k]) {
      case Field::kBirthDate: held = pop_.birth_date(subject) != kNoDate; break;
      case Field::kMunicipality: held = pop_.municipality(subject) != kNoString; break;
      case Field::kLanguage: held = pop_.language(subject) != kNoString; break;
      case Field::kGuardians: held = !pop_.guardians(subject).empty(); break;
      default: break;  // nullable facts: absence is a value
    }
    if (!held) {
      d.conditions[kDataHeld] = Tri::kNo;
      d.missing_facts |= 1u << k;
    }
  }
  // 2. Permission and 3. obligation: the rule's legal basis and statute, checked when loaded.
  d.conditions[kPermission] = spec.permission_basis == "public-task" ? Tri::kYes : Tri::kUndetermined;
  d.conditions[kObligation] = spec.obligation_statute.empty() ? Tri::kNo : Tri::kYes;
  // 4. Eligibility: every clause; the first false one decides, an unknown one is remembered.
  d.conditions[kEligibility] = Tri::kYes;
  for (size_t c = 0; c < r.clauses.size(); ++c) {
    Value v = Run(r.clauses[c]);
    if (v.kind == VK::kUnknown) {
      if (d.unknown_clause < 0) {
        d.unknown_clause = static_cast<int16_t>(c);
        d.missing_path = v.aux;
        d.conditions[kEligibility] = Tri::kUndetermined;
      }
    } else if (!(v.kind == VK::kBool && v.i)) {
      d.conditions[kEligibility] = Tri::kNo;
      d.failed_clause = static_cast<int16_t>(c);
      break;
    }
  }
  // 5. Benefit: a declared gain for the resident or the city.
  d.conditions[kBenefit] = (spec.resident_minutes_saved > 0 || spec.city_eur_saved > 0) ? Tri::kYes : Tri::kNo;

  if (d.conditions[kPermission] != Tri::kYes || d.conditions[kObligation] != Tri::kYes) {
    d.verdict = Verdict::kExcluded;
  } else if (d.conditions[kEligibility] == Tri::kNo || d.conditions[kBenefit] == Tri::kNo) {
    d.verdict = Verdict::kNotEligible;
  } else if (d.conditions[kDataHeld] != Tri::kYes || d.conditions[kEligibility] != Tri::kYes) {
    d.verdict = Verdict::kUndetermined;
  } else {
    d.verdict = Verdict::kEligible;
  }
  *out = d;
  return true;
}

bool Evaluator::Evaluate(size_t rule, PersonIndex subject, Decision* out) {
  CompactDecision c;
  if (!EvaluateCompact(rule, subject, &c)) return false;
  const CompiledRule& r = rules_.rules()[rule];
  const RuleSpec& spec = *r.spec;
  Decision d;
  d.rule = rule;
  d.subject = subject;
  d.verdict = c.verdict;
  d.conditions = c.conditions;
  for (size_t k = 0; k < r.data_held.size(); ++k) {
    if (c.missing_facts & (1u << k)) d.reasons.push_back("data_held: " + r.data_held_names[k] + " is not held");
  }
  if (c.unknown_clause >= 0 && (c.failed_clause < 0 || c.unknown_clause < c.failed_clause)) {
    const CompiledExpr& clause = r.clauses[static_cast<size_t>(c.unknown_clause)];
    d.reasons.push_back("eligibility: `" + clause.text + "` is undetermined: " + clause.paths[c.missing_path] + " is not held");
  }
  if (c.failed_clause >= 0) {
    d.reasons.push_back("eligibility: `" + r.clauses[static_cast<size_t>(c.failed_clause)].text + "` is false");
  }
  if (d.conditions[kBenefit] == Tri::kNo) d.reasons.push_back("benefit: no gain declared, nothing is offered");

  if (spec.has_offer) {
    Value period = Run(r.period);
    if (period.kind == VK::kInt) d.period = std::to_string(period.i);
    else if (period.kind == VK::kString) d.period = pop_.strings().Get(static_cast<StringId>(period.i));
    if (d.verdict == Verdict::kEligible) {
      Value to = Run(r.offer_to);
      if (to.kind == VK::kList) {
        PersonIndex owner = static_cast<PersonIndex>(to.i);
        auto add = [&](std::span<const PersonIndex> ps) {
          for (PersonIndex p : ps) {
            if (pop_.death_date(p) == kNoDate) d.recipients.push_back(p);
          }
        };
        if (to.list == ListOf::kGuardians) add(pop_.guardians(owner));
        else if (to.list == ListOf::kChildren) add(pop_.children(owner));
      }
      if (d.recipients.empty()) {
        d.verdict = Verdict::kUndetermined;
        d.conditions[kDataHeld] = Tri::kNo;
        d.reasons.push_back("data_held: no living recipient for the offer");
      }
    }
  }
  *out = std::move(d);
  return true;
}

}  // namespace ennakko
