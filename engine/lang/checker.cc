#include "engine/lang/checker.h"

#include "engine/base/date.h"

#include <fmt/format.h>

namespace ennakko {

namespace {

struct Builtin_ {
  const char* name;
  Builtin id;
  bool method;  // called as receiver.name(...)
};

constexpr Builtin_ kBuiltins[] = {
    {"year", Builtin::kYear, false},
    {"month", Builtin::kMonth, false},
    {"age_at", Builtin::kAgeAt, false},
    {"date", Builtin::kDate, false},
    {"size", Builtin::kSize, false},
    {"exists", Builtin::kExists, true},
    {"all", Builtin::kAll, true},
    {"count", Builtin::kCount, true},
    {"filter", Builtin::kFilter, true},
    {"map", Builtin::kMap, true},
    {"sum", Builtin::kSum, true},
    {"min", Builtin::kMin, true},
    {"max", Builtin::kMax, true},
    {"add_days", Builtin::kAddDays, false},
    {"add_months", Builtin::kAddMonths, false},
    {"add_years", Builtin::kAddYears, false},
    {"days_between", Builtin::kDaysBetween, false},
    {"months_between", Builtin::kMonthsBetween, false},
    {"start_of_month", Builtin::kStartOfMonth, false},
    {"start_of_year", Builtin::kStartOfYear, false},
    {"days", Builtin::kDays, false},
    {"in_days", Builtin::kInDays, false},
    {"round", Builtin::kRound, false},
    {"floor", Builtin::kFloor, false},
    {"ceil", Builtin::kCeil, false},
    {"decimal", Builtin::kDecimal, false},
    {"starts_with", Builtin::kStartsWith, false},
    {"ends_with", Builtin::kEndsWith, false},
    {"contains", Builtin::kContains, false},
};

constexpr const char* kFunctionHint =
    "functions: year, month, age_at, date, size, add_days, add_months, add_years, days_between, "
    "months_between, start_of_month, start_of_year, days, in_days, round, floor, ceil, decimal, "
    "starts_with, ends_with, contains; on lists: exists, all, count, filter, map, sum, min, max; "
    "and the named definitions in rules/definitions.yaml";

bool IsNumeric(TypeKind k) { return k == TypeKind::kInt || k == TypeKind::kDecimal; }

class Checker {
 public:
  explicit Checker(const CheckEnv& env) : env_(env) {}

  Type Check(Expr& e) {
    e.type = CheckNode(e);
    return e.type;
  }

  CheckResult result;

 private:
  void Issue(const Expr& e, std::string message, std::string hint = {}) {
    result.issues.push_back({e.offset, std::move(message), std::move(hint)});
  }
  static bool IsError(Type t) { return t.kind == TypeKind::kError; }
  static Type Err() { return Type::Of(TypeKind::kError); }
  static Type T(TypeKind k) { return Type::Of(k); }

  Type CheckNode(Expr& e) {
    switch (e.kind) {
      case ExprKind::kLiteral:
        if (std::holds_alternative<bool>(e.literal)) return T(TypeKind::kBool);
        if (std::holds_alternative<int64_t>(e.literal)) return T(TypeKind::kInt);
        if (std::holds_alternative<std::string>(e.literal)) return T(TypeKind::kString);
        if (std::holds_alternative<DecimalLiteral>(e.literal)) return T(TypeKind::kDecimal);
        return T(TypeKind::kNull);
      case ExprKind::kIdent: return CheckIdent(e);
      case ExprKind::kSelect: return CheckSelect(e);
      case ExprKind::kCall: return CheckCall(e);
      case ExprKind::kUnary: return CheckUnary(e);
      case ExprKind::kBinary: return CheckBinary(e);
      case ExprKind::kConditional: {
        Type c = Check(*e.args[0]);
        Type a = Check(*e.args[1]);
        Type b = Check(*e.args[2]);
        if (!IsError(c) && c.kind != TypeKind::kBool) Issue(*e.args[0], "condition of '?:' must be bool, not " + TypeName(c));
        if (IsError(a) || IsError(b)) return Err();
        if (a == b) return a;
        if (IsNumeric(a.kind) && IsNumeric(b.kind)) return T(TypeKind::kDecimal);
        if (a.kind == TypeKind::kNull) return b;
        if (b.kind == TypeKind::kNull) return a;
        Issue(e, fmt::format("the branches of '?:' have different types: {} and {}", TypeName(a), TypeName(b)));
        return Err();
      }
      case ExprKind::kIndex: {
        Type t = Check(*e.args[0]);
        Type k = Check(*e.args[1]);
        if (IsError(t) || IsError(k)) return Err();
        if (t.kind != TypeKind::kTable) {
          Issue(e, "only parameter tables can be indexed with [...], not " + TypeName(t));
          return Err();
        }
        if (k.kind != TypeKind::kInt) {
          Issue(*e.args[1], "a table key must be int, not " + TypeName(k));
          return Err();
        }
        return T(t.elem);
      }
      case ExprKind::kList: {
        Type elem = T(TypeKind::kNull);
        for (auto& a : e.args) {
          Type t = Check(*a);
          if (IsError(t)) return Err();
          if (elem.kind == TypeKind::kNull) {
            elem = t;
          } else if (!(t == elem)) {
            Issue(*a, fmt::format("list elements must share one type: {} after {}", TypeName(t), TypeName(elem)));
            return Err();
          }
        }
        if (elem.kind == TypeKind::kList) {
          Issue(e, "lists of lists are not supported");
          return Err();
        }
        return Type::ListOf(elem.kind);
      }
    }
    return Err();
  }

  Type CheckIdent(Expr& e) {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
      if (it->name == e.name) {
        e.slot = it->slot;
        return it->type;
      }
    }
    if (!env_.argument.empty() && e.name == env_.argument) {
      e.slot = 0;
      return T(TypeKind::kPerson);
    }
    if (e.name == "subject" && env_.argument.empty()) return T(TypeKind::kPerson);
    if (e.name == "today") return T(TypeKind::kDate);
    if (e.name == "params") {
      Issue(e, "'params' must be followed by a parameter name", "write params.NAME");
      return Err();
    }
    if (!env_.argument.empty() && e.name == "subject") {
      Issue(e, "a definition cannot read 'subject'", "use its argument '" + env_.argument + "'");
      return Err();
    }
    Issue(e, "unknown name '" + e.name + "'", "names available here: subject, today, params" +
                                                  std::string(scopes_.empty() ? "" : ", and the macro variables in scope"));
    return Err();
  }

  Type CheckSelect(Expr& e) {
    Expr& operand = *e.args[0];
    if (operand.kind == ExprKind::kIdent && operand.name == "params" && !InScope("params")) {
      operand.type = Err();
      auto it = env_.params.find(e.name);
      if (it == env_.params.end()) {
        std::string known;
        for (const auto& [k, v] : env_.params) known += (known.empty() ? "" : ", ") + k;
        Issue(e, "unknown parameter '" + e.name + "'",
              known.empty() ? "no parameters are declared in rules/params/" : "declared parameters: " + known);
        return Err();
      }
      e.param = e.name;
      return it->second;
    }
    Type t = Check(operand);
    if (IsError(t)) return Err();
    if (t.kind != TypeKind::kPerson && t.kind != TypeKind::kPlacement && t.kind != TypeKind::kIncome) {
      Issue(e, "a value of type " + TypeName(t) + " has no field '" + e.name + "'");
      return Err();
    }
    const FieldInfo* f = FindField(t.kind, e.name);
    if (!f) {
      std::string known;
      for (const auto& fi : DataModel()) {
        if (fi.owner == t.kind) known += (known.empty() ? "" : ", ") + std::string(fi.name);
      }
      Issue(e, "unknown field '" + e.name + "' on " + TypeName(t), "fields of " + TypeName(t) + ": " + known);
      return Err();
    }
    e.field = f->field;
    e.field_nullable = f->nullable;
    if (operand.kind == ExprKind::kIdent && operand.name == "subject" && operand.slot < 0) {
      result.subject_paths.insert("subject." + e.name);
    }
    if (operand.kind == ExprKind::kIdent && !env_.argument.empty() && operand.name == env_.argument) {
      result.argument_fields.insert(e.name);
    }
    return f->type;
  }

  bool InScope(const std::string& name) const {
    for (const auto& s : scopes_) {
      if (s.name == name) return true;
    }
    return false;
  }

  Type CheckCall(Expr& e) {
    const Builtin_* b = nullptr;
    for (const auto& cand : kBuiltins) {
      if (e.name == cand.name) b = &cand;
    }
    if (!b) {
      auto def = env_.definitions.find(e.name);
      if (def != env_.definitions.end() && !e.has_receiver) return CheckDefinitionCall(e, def->second);
      Issue(e, "unknown function '" + e.name + "'", kFunctionHint);
      return Err();
    }
    e.builtin = b->id;
    if ((b->id == Builtin::kMin || b->id == Builtin::kMax) && !e.has_receiver) return CheckScalarMinMax(e);
    if (b->method != e.has_receiver) {
      Issue(e, b->method ? fmt::format("'{}' is called on a list: list.{}(x, predicate)", e.name, e.name)
                         : fmt::format("'{}' is a function, not a method: write {}(...)", e.name, e.name));
      return Err();
    }
    if (b->method) return CheckMacro(e);
    auto want = [&](size_t n) {
      if (e.args.size() != n) {
        Issue(e, fmt::format("'{}' takes {} argument{}, not {}", e.name, n, n == 1 ? "" : "s", e.args.size()));
        return false;
      }
      return true;
    };
    auto arg_is = [&](size_t i, TypeKind k) {
      Type t = Check(*e.args[i]);
      if (IsError(t)) return false;
      if (t.kind != k) {
        Issue(*e.args[i], fmt::format("argument {} of '{}' must be {}, not {}", i + 1, e.name, TypeName(k), TypeName(t)));
        return false;
      }
      return true;
    };
    switch (b->id) {
      case Builtin::kYear:
      case Builtin::kMonth:
        if (!want(1) || !arg_is(0, TypeKind::kDate)) return Err();
        return T(TypeKind::kInt);
      case Builtin::kAgeAt: {
        if (!want(2)) return Err();
        bool ok = arg_is(0, TypeKind::kDate);
        ok = arg_is(1, TypeKind::kDate) && ok;
        return ok ? T(TypeKind::kInt) : Err();
      }
      case Builtin::kDate: {
        if (!want(1)) return Err();
        Expr& a = *e.args[0];
        if (a.kind != ExprKind::kLiteral || !std::holds_alternative<std::string>(a.literal)) {
          Issue(a, "date() takes a string literal \"YYYY-MM-DD\"");
          return Err();
        }
        a.type = T(TypeKind::kString);
        if (!Date::Parse(std::get<std::string>(a.literal))) {
          Issue(a, "'" + std::get<std::string>(a.literal) + "' is not a valid date", "write YYYY-MM-DD, e.g. \"2026-08-01\"");
          return Err();
        }
        return T(TypeKind::kDate);
      }
      case Builtin::kSize: {
        if (!want(1)) return Err();
        Type t = Check(*e.args[0]);
        if (IsError(t)) return Err();
        if (t.kind != TypeKind::kList && t.kind != TypeKind::kString) {
          Issue(*e.args[0], "size() takes a list or a string, not " + TypeName(t));
          return Err();
        }
        return T(TypeKind::kInt);
      }
      case Builtin::kAddDays:
      case Builtin::kAddMonths:
      case Builtin::kAddYears: {
        if (!want(2)) return Err();
        bool ok = arg_is(0, TypeKind::kDate);
        ok = arg_is(1, TypeKind::kInt) && ok;
        return ok ? T(TypeKind::kDate) : Err();
      }
      case Builtin::kDaysBetween:
      case Builtin::kMonthsBetween: {
        if (!want(2)) return Err();
        bool ok = arg_is(0, TypeKind::kDate);
        ok = arg_is(1, TypeKind::kDate) && ok;
        return ok ? T(TypeKind::kInt) : Err();
      }
      case Builtin::kStartOfMonth:
      case Builtin::kStartOfYear:
        if (!want(1) || !arg_is(0, TypeKind::kDate)) return Err();
        return T(TypeKind::kDate);
      case Builtin::kDays:
        if (!want(1) || !arg_is(0, TypeKind::kInt)) return Err();
        return T(TypeKind::kDuration);
      case Builtin::kInDays:
        if (!want(1) || !arg_is(0, TypeKind::kDuration)) return Err();
        return T(TypeKind::kInt);
      case Builtin::kDecimal:
        if (!want(1) || !arg_is(0, TypeKind::kInt)) return Err();
        return T(TypeKind::kDecimal);
      case Builtin::kRound:
      case Builtin::kFloor:
      case Builtin::kCeil: {
        size_t max_args = b->id == Builtin::kRound ? 2 : 1;
        if (e.args.empty() || e.args.size() > max_args) {
          Issue(e, fmt::format("'{}' takes {}", e.name, max_args == 2 ? "a decimal and optionally a number of digits" : "one decimal"));
          return Err();
        }
        Type t = Check(*e.args[0]);
        if (IsError(t)) return Err();
        if (!IsNumeric(t.kind)) {
          Issue(*e.args[0], fmt::format("'{}' takes a decimal, not {}", e.name, TypeName(t)));
          return Err();
        }
        if (e.args.size() == 2) {
          Expr& digits = *e.args[1];
          if (digits.kind != ExprKind::kLiteral || !std::holds_alternative<int64_t>(digits.literal) ||
              std::get<int64_t>(digits.literal) < 0 || std::get<int64_t>(digits.literal) > 6) {
            Issue(digits, "the number of digits must be an integer literal from 0 to 6");
            return Err();
          }
          digits.type = T(TypeKind::kInt);
        }
        return T(TypeKind::kDecimal);
      }
      case Builtin::kStartsWith:
      case Builtin::kEndsWith:
      case Builtin::kContains: {
        if (!want(2)) return Err();
        bool ok = arg_is(0, TypeKind::kString);
        ok = arg_is(1, TypeKind::kString) && ok;
        return ok ? T(TypeKind::kBool) : Err();
      }
      default:
        return Err();
    }
  }

  Type CheckMacro(Expr& e) {
    // args[0] is the receiver list, args[1] the variable, args[2] the predicate.
    if (e.args.size() != 3) {
      Issue(e, fmt::format("'{}' takes a variable and a predicate: list.{}(x, predicate)", e.name, e.name));
      return Err();
    }
    Type list = Check(*e.args[0]);
    if (IsError(list)) return Err();
    if (list.kind != TypeKind::kList) {
      Issue(*e.args[0], fmt::format("'{}' is called on a list, not on {}", e.name, TypeName(list)));
      return Err();
    }
    Expr& var = *e.args[1];
    if (var.kind != ExprKind::kIdent || var.name == "subject" || var.name == "today" || var.name == "params") {
      Issue(var, "the first argument of '" + e.name + "' must be a new variable name", "e.g. p in list.exists(p, p.kind == \"preschool\")");
      return Err();
    }
    var.slot = result.slots++;
    var.type = T(list.elem);
    scopes_.push_back({var.name, var.type, var.slot});
    Type body = Check(*e.args[2]);
    scopes_.pop_back();
    if (IsError(body)) return Err();
    switch (e.builtin) {
      case Builtin::kMap:
        if (body.kind == TypeKind::kList || body.kind == TypeKind::kTable) {
          Issue(*e.args[2], "map must produce single values, not " + TypeName(body));
          return Err();
        }
        return Type::ListOf(body.kind);
      case Builtin::kSum:
        if (!IsNumeric(body.kind) && body.kind != TypeKind::kDuration) {
          Issue(*e.args[2], "sum adds numbers: the expression must be int, decimal or duration, not " + TypeName(body));
          return Err();
        }
        return body;
      case Builtin::kMin:
      case Builtin::kMax:
        if (!IsNumeric(body.kind) && body.kind != TypeKind::kDate && body.kind != TypeKind::kDuration) {
          Issue(*e.args[2], e.name + " needs an orderable value (int, decimal, date, duration), not " + TypeName(body));
          return Err();
        }
        return body;
      default:
        break;
    }
    if (body.kind != TypeKind::kBool) {
      Issue(*e.args[2], "the predicate of '" + e.name + "' must be bool, not " + TypeName(body));
      return Err();
    }
    if (e.builtin == Builtin::kFilter) return list;
    return T(e.builtin == Builtin::kCount ? TypeKind::kInt : TypeKind::kBool);
  }

  // min(a, b) and max(a, b) on two numbers, dates or durations (list.min/list.max are macros).
  Type CheckScalarMinMax(Expr& e) {
    if (e.args.size() != 2) {
      Issue(e, fmt::format("'{}' takes two values, or is called on a list: list.{}(x, expression)", e.name, e.name));
      return Err();
    }
    Type a = Check(*e.args[0]);
    Type b = Check(*e.args[1]);
    if (IsError(a) || IsError(b)) return Err();
    if (IsNumeric(a.kind) && IsNumeric(b.kind)) return T(a.kind == b.kind ? a.kind : TypeKind::kDecimal);
    if (a == b && (a.kind == TypeKind::kDate || a.kind == TypeKind::kDuration)) return a;
    Issue(e, fmt::format("'{}' needs two numbers, dates or durations, not {} and {}", e.name, TypeName(a), TypeName(b)));
    return Err();
  }

  Type CheckDefinitionCall(Expr& e, const DefinitionSignature& def) {
    if (e.args.size() != 1) {
      Issue(e, fmt::format("'{}' takes one person, not {} arguments", e.name, e.args.size()));
      return Err();
    }
    Type t = Check(*e.args[0]);
    if (IsError(t)) return Err();
    if (t.kind != TypeKind::kPerson) {
      Issue(*e.args[0], fmt::format("'{}' takes a person, not {}", e.name, TypeName(t)));
      return Err();
    }
    e.builtin = Builtin::kDefinition;
    e.definition = def.index;
    const Expr& arg = *e.args[0];
    if (arg.kind == ExprKind::kIdent && arg.name == "subject" && arg.slot < 0) {
      for (const auto& f : def.person_fields) result.subject_paths.insert("subject." + f);
    }
    if (arg.kind == ExprKind::kIdent && !env_.argument.empty() && arg.name == env_.argument) {
      result.argument_fields.insert(def.person_fields.begin(), def.person_fields.end());
    }
    return def.result;
  }

  Type CheckUnary(Expr& e) {
    Type t = Check(*e.args[0]);
    if (IsError(t)) return Err();
    if (e.name == "-" && (t.kind == TypeKind::kDecimal || t.kind == TypeKind::kDuration)) return t;
    TypeKind want = e.name == "!" ? TypeKind::kBool : TypeKind::kInt;
    if (t.kind != want) {
      Issue(e, fmt::format("'{}' needs {}, not {}", e.name, TypeName(want), TypeName(t)));
      return Err();
    }
    return t;
  }

  Type CheckBinary(Expr& e) {
    Type a = Check(*e.args[0]);
    Type b = Check(*e.args[1]);
    if (IsError(a) || IsError(b)) return Err();
    const std::string& op = e.name;
    auto mismatch = [&]() {
      Issue(e, fmt::format("'{}' cannot compare or combine {} with {}", op, TypeName(a), TypeName(b)),
            a.kind == TypeKind::kDate || b.kind == TypeKind::kDate ? "use year(d), age_at(birth, at) or date(\"YYYY-MM-DD\")" : "");
      return Err();
    };
    if (op == "&&" || op == "||") {
      if (a.kind != TypeKind::kBool || b.kind != TypeKind::kBool) return mismatch();
      return T(TypeKind::kBool);
    }
    if (op == "==" || op == "!=") {
      if (a == b || a.kind == TypeKind::kNull || b.kind == TypeKind::kNull) return T(TypeKind::kBool);
      if (IsNumeric(a.kind) && IsNumeric(b.kind)) return T(TypeKind::kBool);
      return mismatch();
    }
    if (op == "<" || op == "<=" || op == ">" || op == ">=") {
      if (IsNumeric(a.kind) && IsNumeric(b.kind)) return T(TypeKind::kBool);
      if (a == b && (a.kind == TypeKind::kDate || a.kind == TypeKind::kString || a.kind == TypeKind::kDuration)) return T(TypeKind::kBool);
      return mismatch();
    }
    if (op == "in") {
      if (b.kind != TypeKind::kList || (b.elem != a.kind && b.elem != TypeKind::kNull)) {
        Issue(e, fmt::format("'in' needs a list of {} on the right, not {}", TypeName(a), TypeName(b)));
        return Err();
      }
      return T(TypeKind::kBool);
    }
    // + - * / %
    if (a.kind == TypeKind::kInt && b.kind == TypeKind::kInt) return T(TypeKind::kInt);
    if (IsNumeric(a.kind) && IsNumeric(b.kind) && op != "%") return T(TypeKind::kDecimal);
    if (a.kind == TypeKind::kDate && b.kind == TypeKind::kDuration && (op == "+" || op == "-")) return T(TypeKind::kDate);
    if (a.kind == TypeKind::kDuration && b.kind == TypeKind::kDate && op == "+") return T(TypeKind::kDate);
    if (a.kind == TypeKind::kDate && b.kind == TypeKind::kDate && op == "-") return T(TypeKind::kDuration);
    if (a.kind == TypeKind::kDuration && b.kind == TypeKind::kDuration && (op == "+" || op == "-")) return T(TypeKind::kDuration);
    if (a.kind == TypeKind::kDuration && b.kind == TypeKind::kInt && op == "*") return T(TypeKind::kDuration);
    return mismatch();
  }

  struct Scope {
    std::string name;
    Type type;
    int slot;
  };
  const CheckEnv& env_;
  std::vector<Scope> scopes_;
};

}  // namespace

CheckResult CheckExpression(Expr& expr, const CheckEnv& env, std::optional<Type> expected) {
  Checker c(env);
  if (!env.argument.empty()) c.result.slots = 1;  // slot 0 holds a definition's argument
  Type t = c.Check(expr);
  bool numeric_ok = expected && expected->kind == TypeKind::kDecimal && t.kind == TypeKind::kInt;
  if (expected && t.kind != TypeKind::kError && !(t == *expected) && !numeric_ok) {
    c.result.issues.push_back({expr.offset, "expression has type " + TypeName(t) + " but " +
                                                TypeName(*expected) + " is required here", {}});
  }
  return std::move(c.result);
}

}  // namespace ennakko
