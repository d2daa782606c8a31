#include "engine/eval/program.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

namespace ennakko {

namespace {

class Compiler {
 public:
  Compiler(std::vector<std::string>& literals, std::vector<std::string>& params, const std::string& text)
      : literals_(literals), params_(params), text_(text) {}

  Status Run(const Expr& e, CompiledExpr& out) {
    out_ = &out;
    out.text = text_;
    out.paths.push_back("");  // path 0: none
    int32_t root = Emit(e);
    if (!status_.ok()) return status_;
    // The root must be the last node.
    if (root != static_cast<int32_t>(out.nodes.size()) - 1) {
      Node copy = out.nodes[static_cast<size_t>(root)];
      out.nodes.push_back(copy);
    }
    MarkFolded(out);
    return Status::Ok();
  }

  // Children are emitted before their parents, so one forward pass finds the constant subtrees.
  static void MarkFolded(CompiledExpr& out) {
    std::vector<bool> constant(out.nodes.size(), false);
    for (size_t i = 0; i < out.nodes.size(); ++i) {
      Node& n = out.nodes[i];
      bool leaf = false, pure = true;
      switch (n.op) {
        case Op::kConstBool: case Op::kConstInt: case Op::kConstDecimal: case Op::kConstNull:
        case Op::kConstString: case Op::kConstDate: case Op::kToday: case Op::kParam:
          leaf = true;
          break;
        case Op::kSubject: case Op::kSlot: case Op::kField: case Op::kConstList: case Op::kIn:
        case Op::kExists: case Op::kAll: case Op::kCount: case Op::kFilter: case Op::kMap:
        case Op::kSum: case Op::kMin: case Op::kMax: case Op::kDefinition:
          pure = false;
          break;
        default:
          break;
      }
      if (leaf) {
        constant[i] = true;
        continue;
      }
      bool all = pure;
      for (int32_t c : {n.a, n.b, n.c}) {
        if (c >= 0 && !constant[static_cast<size_t>(c)]) all = false;
      }
      constant[i] = all;
      n.folded = all;
    }
  }

 private:
  int32_t Add(Node n) {
    out_->nodes.push_back(n);
    return static_cast<int32_t>(out_->nodes.size()) - 1;
  }

  int64_t ParamIndex(const std::string& name) {
    for (size_t i = 0; i < params_.size(); ++i) {
      if (params_[i] == name) return static_cast<int64_t>(i);
    }
    params_.push_back(name);
    return static_cast<int64_t>(params_.size() - 1);
  }

  uint32_t Path(const Expr& e) {
    // Rebuild a readable path such as subject.guardians or p.kind from the tree.
    std::function<std::string(const Expr&)> show = [&](const Expr& x) -> std::string {
      if (x.kind == ExprKind::kIdent) return x.name;
      if (x.kind == ExprKind::kSelect) return show(*x.args[0]) + "." + x.name;
      if (x.kind == ExprKind::kCall) return x.name + "(...)";
      return "(...)";
    };
    out_->paths.push_back(show(e));
    return static_cast<uint32_t>(out_->paths.size() - 1);
  }

  int32_t Emit(const Expr& e) {
    switch (e.kind) {
      case ExprKind::kLiteral: {
        Node n{Op::kConstNull};
        if (auto* b = std::get_if<bool>(&e.literal)) n = {Op::kConstBool, false, -1, -1, -1, *b ? 1 : 0};
        if (auto* i = std::get_if<int64_t>(&e.literal)) n = {Op::kConstInt, false, -1, -1, -1, *i};
        if (auto* d = std::get_if<DecimalLiteral>(&e.literal)) n = {Op::kConstDecimal, false, -1, -1, -1, d->micros};
        if (auto* s = std::get_if<std::string>(&e.literal)) {
          literals_.push_back(*s);
          n = {Op::kConstString, false, -1, -1, -1, static_cast<int64_t>(literals_.size() - 1)};
        }
        return Add(n);
      }
      case ExprKind::kIdent:
        if (e.slot >= 0) return Add({Op::kSlot, false, -1, -1, -1, e.slot});
        if (e.name == "subject") return Add({Op::kSubject});
        if (e.name == "today") return Add({Op::kToday});
        status_ = Status::Internal("unresolved name " + e.name);
        return -1;
      case ExprKind::kIndex: {
        // Only parameter tables can be indexed (checked).
        int64_t idx = ParamIndex(e.args[0]->param);
        int32_t key = Emit(*e.args[1]);
        Node n{Op::kIndex, false, key, -1, -1, idx};
        n.path = Path(*e.args[0]);
        return Add(n);
      }
      case ExprKind::kSelect: {
        if (!e.param.empty()) {
          int64_t idx = ParamIndex(e.param);
          Node n{Op::kParam, false, -1, -1, -1, idx};
          n.path = Path(e);
          return Add(n);
        }
        int32_t a = Emit(*e.args[0]);
        Node n{Op::kField, e.field_nullable, a, -1, -1, static_cast<int64_t>(e.field)};
        n.path = Path(e);
        return Add(n);
      }
      case ExprKind::kUnary: {
        int32_t a = Emit(*e.args[0]);
        return Add({e.name == "!" ? Op::kNot : Op::kNeg, false, a});
      }
      case ExprKind::kBinary: {
        static const std::map<std::string, Op> kOps = {
            {"&&", Op::kAnd}, {"||", Op::kOr}, {"==", Op::kEq}, {"!=", Op::kNe}, {"<", Op::kLt},
            {"<=", Op::kLe}, {">", Op::kGt}, {">=", Op::kGe}, {"+", Op::kAdd}, {"-", Op::kSub},
            {"*", Op::kMul}, {"/", Op::kDiv}, {"%", Op::kMod}, {"in", Op::kIn}};
        int32_t a = Emit(*e.args[0]);
        int32_t b = Emit(*e.args[1]);
        return Add({kOps.at(e.name), false, a, b});
      }
      case ExprKind::kConditional: {
        int32_t a = Emit(*e.args[0]);
        int32_t b = Emit(*e.args[1]);
        int32_t c = Emit(*e.args[2]);
        return Add({Op::kCond, false, a, b, c});
      }
      case ExprKind::kList: {
        std::vector<int32_t> items;
        for (const auto& x : e.args) items.push_back(Emit(*x));
        int32_t first = static_cast<int32_t>(out_->list_items.size());
        out_->list_items.insert(out_->list_items.end(), items.begin(), items.end());
        return Add({Op::kConstList, false, first, static_cast<int32_t>(items.size())});
      }
      case ExprKind::kCall: {
        auto unary = [&](Op op) { return Add({op, false, Emit(*e.args[0])}); };
        auto binary = [&](Op op) {
          int32_t a = Emit(*e.args[0]);
          int32_t b = Emit(*e.args[1]);
          return Add({op, false, a, b});
        };
        switch (e.builtin) {
          case Builtin::kAddDays: return binary(Op::kAddDays);
          case Builtin::kAddMonths: return binary(Op::kAddMonths);
          case Builtin::kAddYears: return binary(Op::kAddYears);
          case Builtin::kDaysBetween: return binary(Op::kDaysBetween);
          case Builtin::kMonthsBetween: return binary(Op::kMonthsBetween);
          case Builtin::kStartOfMonth: return unary(Op::kStartOfMonth);
          case Builtin::kStartOfYear: return unary(Op::kStartOfYear);
          case Builtin::kDays: return unary(Op::kDays);
          case Builtin::kInDays: return unary(Op::kInDays);
          case Builtin::kFloor: return unary(Op::kFloor);
          case Builtin::kCeil: return unary(Op::kCeil);
          case Builtin::kDecimal: return unary(Op::kToDecimal);
          case Builtin::kRound: {
            int64_t digits = e.args.size() > 1 ? std::get<int64_t>(e.args[1]->literal) : 0;
            return Add({Op::kRound, false, Emit(*e.args[0]), -1, -1, digits});
          }
          case Builtin::kStartsWith: return binary(Op::kStartsWith);
          case Builtin::kEndsWith: return binary(Op::kEndsWith);
          case Builtin::kContains: return binary(Op::kContains);
          case Builtin::kDefinition: {
            Node n{Op::kDefinition, false, Emit(*e.args[0]), -1, -1, e.definition};
            n.path = Path(e);
            return Add(n);
          }
          case Builtin::kYear: return Add({Op::kYear, false, Emit(*e.args[0])});
          case Builtin::kMonth: return Add({Op::kMonth, false, Emit(*e.args[0])});
          case Builtin::kSize: return Add({Op::kSize, false, Emit(*e.args[0])});
          case Builtin::kAgeAt: {
            int32_t a = Emit(*e.args[0]);
            int32_t b = Emit(*e.args[1]);
            return Add({Op::kAgeAt, false, a, b});
          }
          case Builtin::kDate: {
            Date d = *Date::Parse(std::get<std::string>(e.args[0]->literal));
            return Add({Op::kConstDate, false, -1, -1, -1, d.days});
          }
          case Builtin::kMin:
          case Builtin::kMax:
            if (!e.has_receiver) return binary(e.builtin == Builtin::kMin ? Op::kLeast : Op::kGreatest);
            [[fallthrough]];
          case Builtin::kExists:
          case Builtin::kAll:
          case Builtin::kCount:
          case Builtin::kFilter:
          case Builtin::kMap:
          case Builtin::kSum: {
            int32_t list = Emit(*e.args[0]);
            int32_t body = Emit(*e.args[2]);
            static const std::map<Builtin, Op> kMacro = {
                {Builtin::kExists, Op::kExists}, {Builtin::kAll, Op::kAll}, {Builtin::kCount, Op::kCount},
                {Builtin::kFilter, Op::kFilter}, {Builtin::kMap, Op::kMap},     {Builtin::kSum, Op::kSum},
                {Builtin::kMin, Op::kMin},       {Builtin::kMax, Op::kMax}};
            // `c` carries the result type, so an empty sum is 0 of the right kind.
            Node n{kMacro.at(e.builtin), false, list, body, static_cast<int32_t>(e.type.kind), e.args[1]->slot};
            n.path = Path(e);
            return Add(n);
          }
          case Builtin::kNone: break;
        }
        status_ = Status::Internal("unresolved function " + e.name);
        return -1;
      }
    }
    return -1;
  }

  std::vector<std::string>& literals_;
  std::vector<std::string>& params_;
  const std::string& text_;
  CompiledExpr* out_ = nullptr;
  Status status_;
};

}  // namespace

Result<std::shared_ptr<const RuleSet>> RuleSet::Compile(std::shared_ptr<const RuleSources> sources) {
  auto set = std::make_shared<RuleSet>();
  set->sources_ = sources;
  auto compile = [&](const CheckedExpr& src, CompiledExpr& out) -> Status {
    if (!src.expr) return Status::Ok();
    Compiler c(set->literals_, set->param_names_, src.text);
    ENNAKKO_RETURN_IF_ERROR(c.Run(*src.expr, out));
    out.slots = src.check.slots;
    return Status::Ok();
  };
  // Ids are assigned once every expression has its final address (after the vectors are filled).
  auto assign_ids = [&]() {
    uint32_t next = 0;
    auto add = [&](CompiledExpr& e) {
      e.id = next++;
      set->expressions_.push_back(&e);
    };
    for (auto& d : set->definitions_) add(d);
    for (auto& r : set->rules_) {
      add(r.applies_to);
      for (auto& c : r.clauses) add(c);
      add(r.offer_to);
      add(r.period);
    }
  };
  for (const auto& def : sources->definitions) {
    set->definitions_.emplace_back();
    ENNAKKO_RETURN_IF_ERROR(compile(def.body, set->definitions_.back()));
  }
  for (const auto& spec : sources->rules) {
    CompiledRule r;
    r.spec = &spec;
    ENNAKKO_RETURN_IF_ERROR(compile(spec.applies_to, r.applies_to));
    for (const auto& clause : spec.eligibility) {
      r.clauses.emplace_back();
      ENNAKKO_RETURN_IF_ERROR(compile(clause, r.clauses.back()));
    }
    if (spec.has_offer) {
      ENNAKKO_RETURN_IF_ERROR(compile(spec.offer_to, r.offer_to));
      ENNAKKO_RETURN_IF_ERROR(compile(spec.period, r.period));
    }
    for (size_t k = 0; k < spec.data_held.size(); ++k) {
      const std::string& fact = spec.data_held[k];
      const FieldInfo* f = FindField(TypeKind::kPerson, fact.substr(8));
      if (!f) return Status::Internal("unknown fact " + fact);
      r.data_held.push_back(f->field);
      r.data_held_names.push_back(fact);
      r.data_held_max_age.push_back(k < spec.data_held_max_age.size() ? spec.data_held_max_age[k] : 0);
    }
    r.public_task = spec.permission_basis == "public-task";
    r.consent = spec.permission_basis == "consent";
    r.consent_from_guardians = spec.permission_from == "subject.guardians";
    r.consent_purpose = spec.permission_purpose;
    r.has_obligation = !spec.obligation_statute.empty();
    r.has_benefit = spec.resident_minutes_saved > 0 || spec.city_eur_saved > 0;
    r.applies_by_birth_date_only = !r.applies_to.empty() &&
                                   spec.applies_to.check.subject_paths == std::set<std::string>{"subject.birth_date"};
    set->rules_.push_back(std::move(r));
  }
  assign_ids();
  return std::shared_ptr<const RuleSet>(std::move(set));
}

std::vector<Field> RuleSet::freshness_fields() const {
  std::vector<Field> out;
  for (const auto& r : rules_) {
    for (size_t k = 0; k < r.data_held.size(); ++k) {
      if (r.data_held_max_age[k] > 0 && std::find(out.begin(), out.end(), r.data_held[k]) == out.end()) {
        out.push_back(r.data_held[k]);
      }
    }
  }
  return out;
}

}  // namespace ennakko
