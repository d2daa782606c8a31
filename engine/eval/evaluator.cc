#include "engine/eval/evaluator.h"

#include <climits>

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

namespace {

int64_t RoundDiv(__int128 num, __int128 den) {
  // Division rounding half away from zero.
  bool neg = (num < 0) != (den < 0);
  if (num < 0) num = -num;
  if (den < 0) den = -den;
  __int128 q = (num + den / 2) / den;
  return static_cast<int64_t>(neg ? -q : q);
}

int64_t Pow10(int64_t n) {
  int64_t r = 1;
  while (n-- > 0) r *= 10;
  return r;
}

Date AddMonths(Date d, int64_t months) {
  int64_t total = static_cast<int64_t>(d.year()) * 12 + (d.month() - 1) + months;
  int y = static_cast<int>(total / 12);
  unsigned m = static_cast<unsigned>(total % 12) + 1;
  unsigned last = static_cast<unsigned>(std::chrono::year_month_day_last{std::chrono::year{y} / std::chrono::month{m} / std::chrono::last}.day());
  return Date::FromYmd(y, m, std::min(d.day(), last));
}

int64_t MonthsBetween(Date a, Date b) {
  int64_t months = (static_cast<int64_t>(b.year()) - a.year()) * 12 + (static_cast<int64_t>(b.month()) - a.month());
  if (months > 0 && b.day() < a.day()) --months;
  if (months < 0 && b.day() > a.day()) ++months;
  return months;
}

}  // namespace

Evaluator::Evaluator(const RuleSet& rules, const Population& population, Date today)
    : rules_(rules), pop_(population), today_(today) {
  // Strings of the rules that the population never saw get ids of their own (high bit set), so
  // they equal nothing stored but their text is still there for starts_with and friends.
  auto intern = [&](const std::string& text) -> StringId {
    StringId id = population.strings().Find(text);
    if (id != kNoString) return id;
    for (size_t k = 0; k < extra_strings_.size(); ++k) {
      if (extra_strings_[k] == text) return kExtraString | static_cast<StringId>(k);
    }
    extra_strings_.push_back(text);
    return kExtraString | static_cast<StringId>(extra_strings_.size() - 1);
  };
  for (const auto& lit : rules.literals()) literal_ids_.push_back(intern(lit));
  for (const auto& r : rules.rules()) {
    consent_purposes_.push_back(r.consent ? population.strings().Find(r.consent_purpose) : kNoString);
  }
  auto scalar = [&](TypeKind kind, const nlohmann::json& v) -> Value {
    switch (kind) {
      case TypeKind::kInt: return {VK::kInt, ListOf::kConst, 0, v.get<int64_t>()};
      case TypeKind::kDecimal: return {VK::kDecimal, ListOf::kConst, 0, std::llround(v.get<double>() * kDecimalScale)};
      case TypeKind::kBool: return {VK::kBool, ListOf::kConst, 0, v.get<bool>() ? 1 : 0};
      case TypeKind::kDate: return {VK::kDate, ListOf::kConst, 0, Date::Parse(v.get<std::string>())->days};
      default: return {VK::kString, ListOf::kConst, 0, intern(v.get<std::string>())};
    }
  };
  for (const auto& name : rules.param_names()) {
    const ParamSpec& p = rules.sources().params.at(name);
    const ParamValue* v = p.InForce(today);
    params_.push_back({VK::kUnknown});
    tables_.emplace_back();
    if (!v) {
      param_sources_.push_back(name + ": no value in force on " + today.ToString());
      continue;
    }
    param_sources_.push_back(fmt::format("{} = {}{} (from {}; {}{})", name, v->value.dump(),
                                         v->per_extra ? ", per extra " + v->per_extra->dump() : "",
                                         v->from.ToString(), v->source, v->provisional ? "; PROVISIONAL" : ""));
    if (p.type.kind == TypeKind::kTable) {
      Table& t = tables_.back();
      for (const auto& [key, item] : v->value.items()) {
        Value x = scalar(p.type.elem, item);
        t.entries.emplace_back(std::stoll(key), x.i);
        t.kind = x.kind;
      }
      std::sort(t.entries.begin(), t.entries.end());
      if (v->per_extra) t.per_extra = scalar(p.type.elem, *v->per_extra).i;
      params_.back() = {VK::kNull};  // tables are used through kIndex only
    } else if (p.type.kind == TypeKind::kList) {
      std::vector<Value> items;
      for (const auto& item : v->value) items.push_back(scalar(p.type.elem, item));
      param_lists_.push_back(std::move(items));
      params_.back() = {VK::kList, ListOf::kParam, static_cast<uint32_t>(param_lists_.back().size()),
                        static_cast<int64_t>(param_lists_.size() - 1)};
    } else {
      params_.back() = scalar(p.type.kind, v->value);
    }
  }
  int max_slots = 1;
  for (const auto& r : rules.rules()) {
    for (const auto* e : {&r.applies_to, &r.offer_to, &r.period}) max_slots = std::max(max_slots, e->slots);
    for (const auto& c : r.clauses) max_slots = std::max(max_slots, c.slots);
  }
  for (const auto& d : rules.definitions()) max_slots = std::max(max_slots, d.slots);
  slots_.assign(static_cast<size_t>(max_slots), Value{});
  scratch_.reserve(1024);
  // Constant subtrees: computed once here, for this date and these parameters.
  folded_.resize(rules.expressions().size());
  folding_ = true;
  for (const CompiledExpr* e : rules.expressions()) {
    auto& cache = folded_[e->id];
    cache.resize(e->nodes.size());
    for (size_t i = 0; i < e->nodes.size(); ++i) {
      if (e->nodes[i].folded) cache[i] = Eval(*e, static_cast<int32_t>(i));
    }
  }
  folding_ = false;
}

size_t Evaluator::ListSize(const Value& l) const {
  PersonIndex owner = static_cast<PersonIndex>(l.i);
  switch (l.list) {
    case ListOf::kGuardians: return pop_.guardians(owner).size();
    case ListOf::kChildren: return pop_.children(owner).size();
    case ListOf::kSiblings: return pop_.siblings(owner).size();
    case ListOf::kHousehold: return pop_.household(owner).size();
    case ListOf::kPlacements: return pop_.placements(owner).size();
    case ListOf::kIncomes: return pop_.incomes(owner).size();
    case ListOf::kConst:
    case ListOf::kScratch:
    case ListOf::kParam: return l.aux;
  }
  return 0;
}

Evaluator::Value Evaluator::ListItem(const CompiledExpr& e, const Value& l, size_t k) {
  PersonIndex owner = static_cast<PersonIndex>(l.i);
  switch (l.list) {
    case ListOf::kGuardians: return {VK::kPerson, ListOf::kConst, 0, pop_.guardians(owner)[k]};
    case ListOf::kChildren: return {VK::kPerson, ListOf::kConst, 0, pop_.children(owner)[k]};
    case ListOf::kSiblings: return {VK::kPerson, ListOf::kConst, 0, pop_.siblings(owner)[k]};
    case ListOf::kHousehold: return {VK::kPerson, ListOf::kConst, 0, pop_.household(owner)[k]};
    case ListOf::kPlacements: return {VK::kPlacement, ListOf::kConst, owner, static_cast<int64_t>(k)};
    case ListOf::kIncomes: return {VK::kIncome, ListOf::kConst, owner, static_cast<int64_t>(k)};
    case ListOf::kConst: return Eval(e, e.list_items[static_cast<size_t>(l.i) + k]);
    case ListOf::kScratch: return scratch_[static_cast<size_t>(l.i) + k];
    case ListOf::kParam: return param_lists_[static_cast<size_t>(l.i)][k];
  }
  return {};
}

int Evaluator::Compare(const Value& a, const Value& b) const {
  if (Numeric(a.kind) && Numeric(b.kind) && a.kind != b.kind) {
    int64_t x = AsMicros(a), y = AsMicros(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.kind == VK::kString) return Text(a.i).compare(Text(b.i));
  return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
}

Evaluator::Value Evaluator::EvalField(const CompiledExpr& e, const Node& n) {
  Value obj = Eval(e, n.a);
  if (obj.kind == VK::kUnknown) return obj;
  if (obj.kind == VK::kNull) return {VK::kUnknown, ListOf::kConst, n.path, 0};
  Field f = static_cast<Field>(n.imm);
  auto unknown = Value{VK::kUnknown, ListOf::kConst, n.path, 0};
  auto date_or = [&](int32_t d, bool nullable) {
    return d == kNoDate ? (nullable ? Value{} : unknown) : Value{VK::kDate, ListOf::kConst, 0, d};
  };
  if (obj.kind == VK::kPlacement) {
    const Placement& pl = pop_.placements(obj.aux)[static_cast<size_t>(obj.i)];
    switch (f) {
      case Field::kPlacementKind: return pl.kind == kNoString ? unknown : Value{VK::kString, ListOf::kConst, 0, pl.kind};
      case Field::kPlacementStart: return date_or(pl.start, true);
      case Field::kPlacementEnd: return date_or(pl.end, true);
      default: return unknown;
    }
  }
  if (obj.kind == VK::kIncome) {
    const Income& in = pop_.incomes(obj.aux)[static_cast<size_t>(obj.i)];
    switch (f) {
      case Field::kIncomeType: return in.type == kNoString ? unknown : Value{VK::kString, ListOf::kConst, 0, in.type};
      case Field::kIncomeAmount: return {VK::kDecimal, ListOf::kConst, 0, in.amount};
      case Field::kIncomeStart: return date_or(in.start, false);
      case Field::kIncomeEnd: return date_or(in.end, false);
      default: return unknown;
    }
  }
  PersonIndex p = static_cast<PersonIndex>(obj.i);
  switch (f) {
    case Field::kBirthDate: return date_or(pop_.birth_date(p), false);
    case Field::kDeathDate: return date_or(pop_.death_date(p), true);
    case Field::kAlive: return {VK::kBool, ListOf::kConst, 0, pop_.death_date(p) == kNoDate};
    case Field::kMunicipality: {
      StringId s = pop_.municipality(p);
      return s == kNoString ? unknown : Value{VK::kString, ListOf::kConst, 0, s};
    }
    case Field::kLanguage: {
      StringId s = pop_.language(p);
      return s == kNoString ? unknown : Value{VK::kString, ListOf::kConst, 0, s};
    }
    case Field::kAddressProtected: return {VK::kBool, ListOf::kConst, 0, pop_.address_protected(p)};
    case Field::kGuardians: return {VK::kList, ListOf::kGuardians, 0, p};
    case Field::kChildren: return {VK::kList, ListOf::kChildren, 0, p};
    case Field::kSiblings: return {VK::kList, ListOf::kSiblings, 0, p};
    case Field::kHousehold: return {VK::kList, ListOf::kHousehold, 0, p};
    case Field::kPlacements: return {VK::kList, ListOf::kPlacements, 0, p};
    case Field::kIncomes: return pop_.incomes_held(p) ? Value{VK::kList, ListOf::kIncomes, 0, p} : unknown;
    default: return unknown;
  }
}

Evaluator::Value Evaluator::EvalMacro(const CompiledExpr& e, const Node& n) {
  Value l = Eval(e, n.a);
  if (l.kind != VK::kList) return l.kind == VK::kUnknown ? l : Value{VK::kUnknown, ListOf::kConst, n.path, 0};
  size_t slot = static_cast<size_t>(n.imm);
  size_t count = ListSize(l);
  Value saved = slots_[slot];  // a definition may reuse slot numbers of its caller
  bool unknown = false;
  Value first_unknown;
  int64_t hits = 0;
  TypeKind result = static_cast<TypeKind>(n.c);
  // filter and map append to the scratch buffer; the result is a view of what they appended.
  size_t scratch_begin = scratch_.size();
  Value acc{result == TypeKind::kDecimal ? VK::kDecimal : result == TypeKind::kDuration ? VK::kDuration : VK::kInt,
            ListOf::kConst, 0, 0};
  bool have_extreme = false;
  Value out;
  bool done = false;
  for (size_t k = 0; k < count && !done; ++k) {
    Value item = ListItem(e, l, k);
    slots_[slot] = item;
    Value r = Eval(e, n.b);
    if (r.kind == VK::kUnknown) {
      if (!unknown) first_unknown = r;
      unknown = true;
      continue;
    }
    switch (n.op) {
      case Op::kExists:
        if (r.i) {
          out = {VK::kBool, ListOf::kConst, 0, 1};
          done = true;
        }
        break;
      case Op::kAll:
        if (!r.i) {
          out = {VK::kBool, ListOf::kConst, 0, 0};
          done = true;
        }
        break;
      case Op::kCount: hits += r.i ? 1 : 0; break;
      case Op::kFilter:
        if (r.i) scratch_.push_back(item);
        break;
      case Op::kMap: scratch_.push_back(r); break;
      case Op::kSum:
        if (acc.kind == VK::kDecimal) acc.i += AsMicros(r);
        else acc.i += r.i;
        break;
      case Op::kMin:
      case Op::kMax: {
        if (r.kind == VK::kNull) break;
        if (!have_extreme) {
          acc = r;
          have_extreme = true;
        } else {
          int c = Compare(r, acc);
          if ((n.op == Op::kMin && c < 0) || (n.op == Op::kMax && c > 0)) acc = r;
        }
        break;
      }
      default: break;
    }
  }
  slots_[slot] = saved;
  if (done) return out;
  if (unknown) {
    scratch_.resize(scratch_begin);
    return first_unknown;
  }
  switch (n.op) {
    case Op::kExists: return {VK::kBool, ListOf::kConst, 0, 0};
    case Op::kAll: return {VK::kBool, ListOf::kConst, 0, 1};
    case Op::kCount: return {VK::kInt, ListOf::kConst, 0, hits};
    case Op::kFilter:
    case Op::kMap:
      return {VK::kList, ListOf::kScratch, static_cast<uint32_t>(scratch_.size() - scratch_begin),
              static_cast<int64_t>(scratch_begin)};
    case Op::kSum: return acc;
    case Op::kMin:
    case Op::kMax:
      if (!have_extreme) return Value{};  // the minimum of nothing is null
      if (result == TypeKind::kDecimal && acc.kind == VK::kInt) acc = {VK::kDecimal, ListOf::kConst, 0, AsMicros(acc)};
      return acc;
    default: return {};
  }
}

Evaluator::Value Evaluator::Eval(const CompiledExpr& e, int32_t idx) {
  const Node& n = e.nodes[static_cast<size_t>(idx)];
  if (n.folded && !folding_) return folded_[e.id][static_cast<size_t>(idx)];
  auto unknown = [&]() { return Value{VK::kUnknown, ListOf::kConst, n.path, 0}; };
  auto boolean = [](bool b) { return Value{VK::kBool, ListOf::kConst, 0, b ? 1 : 0}; };
  auto integer = [](int64_t v) { return Value{VK::kInt, ListOf::kConst, 0, v}; };
  auto decimal = [](int64_t v) { return Value{VK::kDecimal, ListOf::kConst, 0, v}; };
  auto date = [](int64_t d) { return Value{VK::kDate, ListOf::kConst, 0, d}; };
  switch (n.op) {
    case Op::kConstBool: return boolean(n.imm != 0);
    case Op::kConstInt: return integer(n.imm);
    case Op::kConstDecimal: return decimal(n.imm);
    case Op::kConstNull: return {};
    case Op::kConstString: return {VK::kString, ListOf::kConst, 0, literal_ids_[static_cast<size_t>(n.imm)]};
    case Op::kConstDate: return date(n.imm);
    case Op::kConstList: return {VK::kList, ListOf::kConst, static_cast<uint32_t>(n.b), n.a};
    case Op::kSubject: return {VK::kPerson, ListOf::kConst, 0, subject_};
    case Op::kToday: return date(today_.days);
    case Op::kSlot: return slots_[static_cast<size_t>(n.imm)];
    case Op::kParam: {
      Value v = params_[static_cast<size_t>(n.imm)];
      return v.kind == VK::kUnknown ? unknown() : v;
    }
    case Op::kIndex: {
      const Table& t = tables_[static_cast<size_t>(n.imm)];
      Value key = Eval(e, n.a);
      if (key.kind == VK::kUnknown) return key;
      if (t.entries.empty()) return unknown();
      for (const auto& [k, v] : t.entries) {
        if (k == key.i) return {t.kind, ListOf::kConst, 0, v};
      }
      const auto& [last_key, last_value] = t.entries.back();
      if (key.i > last_key && t.per_extra != 0) return {t.kind, ListOf::kConst, 0, last_value + (key.i - last_key) * t.per_extra};
      return unknown();  // no value for this key: the rule cannot decide
    }
    case Op::kField: return EvalField(e, n);
    case Op::kNot: {
      Value a = Eval(e, n.a);
      return a.kind == VK::kUnknown ? a : boolean(!a.i);
    }
    case Op::kNeg: {
      Value a = Eval(e, n.a);
      if (a.kind == VK::kUnknown) return a;
      a.i = -a.i;
      return a;
    }
    case Op::kAnd: {
      Value a = Eval(e, n.a);
      if (a.kind == VK::kBool && !a.i) return a;
      Value b = Eval(e, n.b);
      if (b.kind == VK::kBool && !b.i) return b;
      return a.kind == VK::kUnknown ? a : b;
    }
    case Op::kOr: {
      Value a = Eval(e, n.a);
      if (a.kind == VK::kBool && a.i) return a;
      Value b = Eval(e, n.b);
      if (b.kind == VK::kBool && b.i) return b;
      return a.kind == VK::kUnknown ? a : b;
    }
    case Op::kEq:
    case Op::kNe: {
      Value a = Eval(e, n.a), b = Eval(e, n.b);
      if (a.kind == VK::kUnknown) return a;
      if (b.kind == VK::kUnknown) return b;
      bool eq;
      if (Numeric(a.kind) && Numeric(b.kind)) eq = AsMicros(a) == AsMicros(b);
      else eq = a.kind == b.kind && (a.kind == VK::kNull || (a.i == b.i && a.aux == b.aux));
      return boolean(n.op == Op::kEq ? eq : !eq);
    }
    case Op::kLt: case Op::kLe: case Op::kGt: case Op::kGe: {
      Value a = Eval(e, n.a), b = Eval(e, n.b);
      if (a.kind == VK::kUnknown) return a;
      if (b.kind == VK::kUnknown) return b;
      if (a.kind == VK::kNull || b.kind == VK::kNull) return boolean(false);
      int c = Compare(a, b);
      return boolean(n.op == Op::kLt ? c < 0 : n.op == Op::kLe ? c <= 0 : n.op == Op::kGt ? c > 0 : c >= 0);
    }
    case Op::kAdd: case Op::kSub: case Op::kMul: case Op::kDiv: case Op::kMod: {
      Value a = Eval(e, n.a), b = Eval(e, n.b);
      if (a.kind == VK::kUnknown) return a;
      if (b.kind == VK::kUnknown) return b;
      if (a.kind == VK::kDecimal || b.kind == VK::kDecimal) {
        int64_t x = AsMicros(a), y = AsMicros(b);
        switch (n.op) {
          case Op::kAdd: return decimal(x + y);
          case Op::kSub: return decimal(x - y);
          case Op::kMul: return decimal(RoundDiv(static_cast<__int128>(x) * y, kDecimalScale));
          case Op::kDiv: return y == 0 ? unknown() : decimal(RoundDiv(static_cast<__int128>(x) * kDecimalScale, y));
          default: return unknown();
        }
      }
      if (a.kind == VK::kDate && b.kind == VK::kDate) return {VK::kDuration, ListOf::kConst, 0, a.i - b.i};
      if (a.kind == VK::kDate || b.kind == VK::kDate) {  // date ± duration
        int64_t d = a.kind == VK::kDate ? a.i : b.i, dur = a.kind == VK::kDate ? b.i : a.i;
        return date(n.op == Op::kSub ? d - dur : d + dur);
      }
      VK kind = a.kind == VK::kDuration || b.kind == VK::kDuration ? VK::kDuration : VK::kInt;
      switch (n.op) {
        case Op::kAdd: return {kind, ListOf::kConst, 0, a.i + b.i};
        case Op::kSub: return {kind, ListOf::kConst, 0, a.i - b.i};
        case Op::kMul: return {kind, ListOf::kConst, 0, a.i * b.i};
        case Op::kDiv: return b.i == 0 ? unknown() : integer(a.i / b.i);
        default: return b.i == 0 ? unknown() : integer(a.i % b.i);
      }
    }
    case Op::kIn: {
      Value a = Eval(e, n.a), list = Eval(e, n.b);
      if (a.kind == VK::kUnknown) return a;
      if (list.kind == VK::kUnknown) return list;
      size_t count = ListSize(list);
      for (size_t k = 0; k < count; ++k) {
        Value item = ListItem(e, list, k);
        bool eq = Numeric(a.kind) && Numeric(item.kind) ? AsMicros(a) == AsMicros(item) : item.kind == a.kind && item.i == a.i;
        if (eq) return boolean(true);
      }
      return boolean(false);
    }
    case Op::kCond: {
      Value c = Eval(e, n.a);
      if (c.kind == VK::kUnknown) return c;
      return Eval(e, c.i ? n.b : n.c);
    }
    case Op::kYear:
    case Op::kMonth:
    case Op::kStartOfMonth:
    case Op::kStartOfYear: {
      Value a = Eval(e, n.a);
      if (a.kind != VK::kDate) return a.kind == VK::kUnknown ? a : unknown();
      Date d{static_cast<int32_t>(a.i)};
      switch (n.op) {
        case Op::kYear: return integer(d.year());
        case Op::kMonth: return integer(d.month());
        case Op::kStartOfMonth: return date(Date::FromYmd(d.year(), d.month(), 1).days);
        default: return date(Date::FromYmd(d.year(), 1, 1).days);
      }
    }
    case Op::kAgeAt:
    case Op::kDaysBetween:
    case Op::kMonthsBetween: {
      Value a = Eval(e, n.a), b = Eval(e, n.b);
      if (a.kind == VK::kUnknown) return a;
      if (b.kind == VK::kUnknown) return b;
      if (a.kind != VK::kDate || b.kind != VK::kDate) return unknown();
      Date x{static_cast<int32_t>(a.i)}, y{static_cast<int32_t>(b.i)};
      if (n.op == Op::kAgeAt) return integer(AgeAt(x, y));
      if (n.op == Op::kDaysBetween) return integer(y.days - x.days);
      return integer(MonthsBetween(x, y));
    }
    case Op::kAddDays:
    case Op::kAddMonths:
    case Op::kAddYears: {
      Value a = Eval(e, n.a), b = Eval(e, n.b);
      if (a.kind == VK::kUnknown) return a;
      if (b.kind == VK::kUnknown) return b;
      if (a.kind != VK::kDate) return unknown();
      Date d{static_cast<int32_t>(a.i)};
      if (n.op == Op::kAddDays) return date(a.i + b.i);
      return date(AddMonths(d, n.op == Op::kAddMonths ? b.i : b.i * 12).days);
    }
    case Op::kDays:
    case Op::kInDays:
    case Op::kToDecimal:
    case Op::kFloor:
    case Op::kCeil:
    case Op::kRound: {
      Value a = Eval(e, n.a);
      if (a.kind == VK::kUnknown) return a;
      if (a.kind == VK::kNull) return unknown();
      switch (n.op) {
        case Op::kDays: return {VK::kDuration, ListOf::kConst, 0, a.i};
        case Op::kInDays: return integer(a.i);
        case Op::kToDecimal: return decimal(AsMicros(a));
        default: break;
      }
      int64_t x = AsMicros(a);
      int64_t unit = kDecimalScale / Pow10(n.op == Op::kRound ? n.imm : 0);
      int64_t q = x / unit, r = x % unit;
      if (n.op == Op::kFloor && r < 0) --q;
      if (n.op == Op::kCeil && r > 0) ++q;
      if (n.op == Op::kRound) q = RoundDiv(x, unit);
      return decimal(q * unit);
    }
    case Op::kStartsWith:
    case Op::kEndsWith:
    case Op::kContains: {
      Value a = Eval(e, n.a), b = Eval(e, n.b);
      if (a.kind == VK::kUnknown) return a;
      if (b.kind == VK::kUnknown) return b;
      const std::string& s = Text(a.i);
      const std::string& t = Text(b.i);
      if (n.op == Op::kStartsWith) return boolean(s.starts_with(t));
      if (n.op == Op::kEndsWith) return boolean(s.ends_with(t));
      return boolean(s.find(t) != std::string::npos);
    }
    case Op::kSize: {
      Value l = Eval(e, n.a);
      if (l.kind == VK::kString) return integer(static_cast<int64_t>(Text(l.i).size()));
      if (l.kind != VK::kList) return l.kind == VK::kUnknown ? l : unknown();
      return integer(static_cast<int64_t>(ListSize(l)));
    }
    case Op::kExists: case Op::kAll: case Op::kCount: case Op::kFilter: case Op::kMap:
    case Op::kSum: case Op::kMin: case Op::kMax:
      return EvalMacro(e, n);
    case Op::kLeast:
    case Op::kGreatest: {
      Value a = Eval(e, n.a), b = Eval(e, n.b);
      if (a.kind == VK::kUnknown) return a;
      if (b.kind == VK::kUnknown) return b;
      if (a.kind == VK::kNull || b.kind == VK::kNull) return unknown();
      int c = Compare(a, b);
      Value r = (n.op == Op::kLeast) == (c <= 0) ? a : b;
      if (a.kind != b.kind && Numeric(r.kind)) r = decimal(AsMicros(r));  // int vs decimal: decimal
      return r;
    }
    case Op::kDefinition: {
      Value arg = Eval(e, n.a);
      if (arg.kind != VK::kPerson) return arg.kind == VK::kUnknown ? arg : unknown();
      const CompiledExpr& def = rules_.definitions()[static_cast<size_t>(n.imm)];
      Value saved = slots_[0];
      slots_[0] = arg;
      Value r = Eval(def, static_cast<int32_t>(def.nodes.size()) - 1);
      slots_[0] = saved;
      if (r.kind == VK::kUnknown) {
        // The path index belongs to the definition's table: report the call in the caller's
        // terms, and remember the innermost missing fact for the reason.
        if (!inner_missing_) inner_missing_ = &def.paths[r.aux];
        return unknown();
      }
      return r;
    }
  }
  return unknown();
}

Evaluator::Value Evaluator::Run(const CompiledExpr& e) {
  scratch_.clear();
  inner_missing_ = nullptr;
  return Eval(e, static_cast<int32_t>(e.nodes.size()) - 1);
}

bool Evaluator::AppliesToSlow(size_t rule, PersonIndex subject) {
  subject_ = subject;
  const CompiledRule& r = rules_.rules()[rule];
  if (r.applies_to.empty()) return true;
  Value v = Run(r.applies_to);
  return v.kind == VK::kBool && v.i;
}

bool Evaluator::AppliesTo(size_t rule, PersonIndex subject) {
  if (rule < windows_.size() && !windows_[rule].empty()) {
    int32_t b = pop_.birth_date(subject);
    if (b != kNoDate) {
      subject_ = subject;
      return windows_[rule][static_cast<size_t>(b - window_first_)] != 0;
    }
  }
  return AppliesToSlow(rule, subject);
}

void Evaluator::PrepareSweep() {
  int32_t lo = INT32_MAX, hi = INT32_MIN;
  for (PersonIndex p = 0; p < pop_.size(); ++p) {
    int32_t b = pop_.birth_date(p);
    if (b == kNoDate) continue;
    lo = std::min(lo, b);
    hi = std::max(hi, b);
  }
  windows_.assign(rules_.rules().size(), {});
  if (lo > hi) return;
  // One resident per birth date stands for all residents born that day.
  std::vector<PersonIndex> representative(static_cast<size_t>(hi - lo + 1), UINT32_MAX);
  for (PersonIndex p = 0; p < pop_.size(); ++p) {
    int32_t b = pop_.birth_date(p);
    if (b != kNoDate && representative[static_cast<size_t>(b - lo)] == UINT32_MAX) {
      representative[static_cast<size_t>(b - lo)] = p;
    }
  }
  window_first_ = lo;
  for (size_t r = 0; r < rules_.rules().size(); ++r) {
    if (!rules_.rules()[r].applies_by_birth_date_only) continue;
    std::vector<uint8_t> w(representative.size(), 0);
    for (size_t d = 0; d < representative.size(); ++d) {
      if (representative[d] != UINT32_MAX) w[d] = AppliesToSlow(r, representative[d]) ? 1 : 0;
    }
    windows_[r] = std::move(w);
  }
}

int64_t Evaluator::FindConsent(size_t rule, PersonIndex subject) const {
  StringId purpose = consent_purposes_[rule];
  if (purpose == kNoString) return 0;
  auto of = [&](PersonIndex p) -> int64_t {
    for (const Consent& c : pop_.consents(p)) {
      if (c.purpose == purpose && c.ActiveOn(today_.days)) return c.id;
    }
    return 0;
  };
  if (!rules_.rules()[rule].consent_from_guardians) return of(subject);
  for (PersonIndex g : pop_.guardians(subject)) {
    if (int64_t id = of(g)) return id;
  }
  return 0;
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
      case Field::kIncomes: held = pop_.incomes_held(subject); break;
      default: break;  // nullable facts: absence is a value
    }
    if (!held) {
      d.conditions[kDataHeld] = Tri::kNo;
      d.missing_facts |= 1u << k;
    } else if (int32_t max_age = r.data_held_max_age[k]; max_age > 0) {
      int32_t fetched = pop_.fetched(subject, r.data_held[k]);
      if (fetched == kNoDate || today_.days - fetched > max_age) {
        d.conditions[kDataHeld] = Tri::kNo;
        d.stale_facts |= 1u << k;
      }
    }
  }
  // 2. Permission and 3. obligation: the rule's legal basis and statute, checked when loaded.
  if (r.consent) {
    d.consent_id = FindConsent(rule, subject);
    d.conditions[kPermission] = d.consent_id != 0 ? Tri::kYes : Tri::kNo;
  } else {
    d.conditions[kPermission] = r.public_task ? Tri::kYes : Tri::kUndetermined;
  }
  d.conditions[kObligation] = r.has_obligation ? Tri::kYes : Tri::kNo;
  // 4. Eligibility: every clause; the first false one decides, an unknown one is remembered.
  d.conditions[kEligibility] = Tri::kYes;
  for (size_t c = 0; c < r.clauses.size(); ++c) {
    Value v = Run(r.clauses[c]);
    if (v.kind == VK::kUnknown) {
      if (d.unknown_clause < 0) {
        d.unknown_clause = static_cast<int16_t>(c);
        d.missing_path = v.aux;
        d.missing_inner = inner_missing_;
        d.conditions[kEligibility] = Tri::kUndetermined;
      }
    } else if (!(v.kind == VK::kBool && v.i)) {
      d.conditions[kEligibility] = Tri::kNo;
      d.failed_clause = static_cast<int16_t>(c);
      break;
    }
  }
  // 5. Benefit: a declared gain for the resident or the city.
  d.conditions[kBenefit] = r.has_benefit ? Tri::kYes : Tri::kNo;

  if (d.conditions[kPermission] != Tri::kYes || d.conditions[kObligation] != Tri::kYes) {
    d.verdict = Verdict::kExcluded;
  } else if (d.conditions[kEligibility] == Tri::kNo || d.conditions[kBenefit] == Tri::kNo) {
    d.verdict = Verdict::kNotEligible;
  } else if (d.conditions[kDataHeld] != Tri::kYes || d.conditions[kEligibility] != Tri::kYes) {
    d.verdict = Verdict::kUndetermined;
  } else {
    d.verdict = Verdict::kEligible;
  }
  // An offer nobody alive can receive cannot be made: the recipients are data the city lacks.
  if (d.verdict == Verdict::kEligible && spec.has_offer) {
    Value to = Run(r.offer_to);
    size_t living = 0;
    if (to.kind == VK::kList) {
      size_t count = ListSize(to);
      for (size_t k = 0; k < count; ++k) {
        Value p = ListItem(r.offer_to, to, k);
        if (p.kind == VK::kPerson && pop_.death_date(static_cast<PersonIndex>(p.i)) == kNoDate) ++living;
      }
    }
    if (living == 0) {
      d.verdict = Verdict::kUndetermined;
      d.conditions[kDataHeld] = Tri::kNo;
      d.no_recipient = true;
    }
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
    if (c.stale_facts & (1u << k)) {
      int32_t fetched = pop_.fetched(subject, r.data_held[k]);
      d.reasons.push_back(fmt::format("data_held: {} is stale: fetched {}, more than {} days ago", r.data_held_names[k],
                                      fetched == kNoDate ? std::string("at an unknown time") : Date{fetched}.ToString(),
                                      r.data_held_max_age[k]));
    }
  }
  if (c.unknown_clause >= 0 && (c.failed_clause < 0 || c.unknown_clause < c.failed_clause)) {
    const CompiledExpr& clause = r.clauses[static_cast<size_t>(c.unknown_clause)];
    std::string missing = clause.paths[c.missing_path];
    if (c.missing_inner) missing += " (" + *c.missing_inner + ")";
    d.reasons.push_back("eligibility: `" + clause.text + "` is undetermined: " + missing + " is not held");
  }
  if (c.failed_clause >= 0) {
    d.reasons.push_back("eligibility: `" + r.clauses[static_cast<size_t>(c.failed_clause)].text + "` is false");
  }
  if (r.consent) {
    const char* from = r.consent_from_guardians ? "a guardian of the subject" : "the subject";
    d.reasons.push_back(c.consent_id != 0
                            ? fmt::format("permission: consent {} for purpose '{}' from {} is active", c.consent_id,
                                          r.consent_purpose, from)
                            : fmt::format("permission: no active consent for purpose '{}' from {}", r.consent_purpose,
                                          r.consent_from_guardians ? "any guardian of the subject" : "the subject"));
  }
  if (d.conditions[kBenefit] == Tri::kNo) d.reasons.push_back("benefit: no gain declared, nothing is offered");
  if (c.no_recipient) d.reasons.push_back("data_held: no living recipient for the offer");

  if (spec.has_offer) {
    Value period = Run(r.period);
    if (period.kind == VK::kInt) d.period = std::to_string(period.i);
    else if (period.kind == VK::kString) d.period = Text(period.i);
    if (d.verdict == Verdict::kEligible) {
      Value to = Run(r.offer_to);
      if (to.kind == VK::kList) {
        size_t count = ListSize(to);
        for (size_t k = 0; k < count; ++k) {
          Value p = ListItem(r.offer_to, to, k);
          PersonIndex person = static_cast<PersonIndex>(p.i);
          if (p.kind == VK::kPerson && pop_.death_date(person) == kNoDate) d.recipients.push_back(person);
        }
      }

    }
  }
  *out = std::move(d);
  return true;
}

}  // namespace ennakko
