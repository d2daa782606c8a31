// The expression language's syntax tree, its types, and the data model it can read.
//
// An Expr is produced by the parser (kind, name, literal, children, offset) and annotated in place
// by the checker (type, field, function, slot). After checking, a tree is immutable; the compiler
// in engine/eval turns it into an evaluation program. Not thread-safe while being checked.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace ennakko {

enum class TypeKind : uint8_t {
  kError,  // a type error was reported; suppresses cascades
  kNull,
  kBool,
  kInt,
  kDecimal,   // exact fixed point: 6 decimal places (euros and percentages without rounding drift)
  kString,
  kDate,
  kDuration,  // a number of days: days(n), date - date
  kPerson,
  kPlacement,
  kIncome,
  kList,
  kTable,     // a parameter table from int keys to `elem` values (income limit by family size)
};

// Decimal values are held as integers in millionths.
inline constexpr int64_t kDecimalScale = 1000000;

struct Type {
  TypeKind kind = TypeKind::kError;
  TypeKind elem = TypeKind::kError;  // element type when kind == kList
  static Type Of(TypeKind k) { return {k, TypeKind::kError}; }
  static Type ListOf(TypeKind e) { return {TypeKind::kList, e}; }
  bool operator==(const Type&) const = default;
};

std::string TypeName(Type t);
std::string TypeName(TypeKind k);

// The facts a rule can read. `nullable` facts have null as a legitimate value (no death date =
// alive); for the others a null means the city does not hold the fact, which makes a condition
// undetermined rather than false.
enum class Field : uint8_t {
  // person
  kBirthDate,
  kDeathDate,
  kMunicipality,
  kLanguage,
  kAddressProtected,
  kAlive,
  kGuardians,
  kChildren,
  kSiblings,
  kHousehold,
  kPlacements,
  kIncomes,
  // placement
  kPlacementKind,
  kPlacementStart,
  kPlacementEnd,
  // income (a monthly earnings or benefit item from the Incomes Register)
  kIncomeType,
  kIncomeAmount,
  kIncomeStart,
  kIncomeEnd,
};
inline constexpr size_t kFieldCount = static_cast<size_t>(Field::kIncomeEnd) + 1;

struct FieldInfo {
  Field field;
  TypeKind owner;  // kPerson or kPlacement
  const char* name;
  Type type;
  bool nullable;
  const char* doc;
};

// Every readable field, for the checker and the rule author guide.
const std::vector<FieldInfo>& DataModel();
const FieldInfo* FindField(TypeKind owner, const std::string& name);

enum class Builtin : uint8_t {
  kNone,
  kYear,       // year(date) -> int
  kMonth,      // month(date) -> int
  kAgeAt,      // age_at(birth date, at date) -> int: whole years
  kDate,       // date("YYYY-MM-DD") -> date (literal argument)
  kSize,       // size(list) -> int
  kExists,     // list.exists(x, predicate) -> bool
  kAll,        // list.all(x, predicate) -> bool
  kCount,      // list.count(x, predicate) -> int
  kFilter,     // list.filter(x, predicate) -> list
  kMap,        // list.map(x, expression) -> list
  kSum,        // list.sum(x, expression) -> int | decimal
  kMin,        // list.min(x, expression) -> value or null for an empty list
  kMax,        // list.max(x, expression)
  kAddDays,    // add_days(date, int) -> date
  kAddMonths,  // add_months(date, int) -> date: clamped to the month's last day
  kAddYears,   // add_years(date, int) -> date: 29 Feb -> 28 Feb in common years
  kDaysBetween,    // days_between(a, b) -> int: b - a in days
  kMonthsBetween,  // months_between(a, b) -> int: whole months from a to b
  kStartOfMonth,   // start_of_month(date) -> date
  kStartOfYear,    // start_of_year(date) -> date
  kDays,           // days(int) -> duration
  kInDays,         // in_days(duration) -> int
  kRound,          // round(decimal[, digits]) -> decimal, half away from zero
  kFloor,          // floor(decimal) -> decimal
  kCeil,           // ceil(decimal) -> decimal
  kDecimal,        // decimal(int) -> decimal
  kStartsWith,     // starts_with(string, prefix) -> bool
  kEndsWith,       // ends_with(string, suffix) -> bool
  kContains,       // contains(string, part) -> bool
  kDefinition,     // a named definition from rules/definitions.yaml: name(person)
};

enum class ExprKind : uint8_t {
  kLiteral,      // literal
  kIdent,        // name: subject, today, params, or a macro variable
  kSelect,       // args[0].name
  kCall,         // name(args...) or args[0].name(args[1..]) when has_receiver
  kUnary,        // name in {"!", "-"}, args[0]
  kBinary,       // name is the operator, args[0] op args[1]
  kConditional,  // args[0] ? args[1] : args[2]
  kList,         // [args...]
  kIndex,        // args[0][args[1]]: a parameter table looked up by key
};

struct DecimalLiteral {
  int64_t micros = 0;  // value * kDecimalScale
};
using Literal = std::variant<std::monostate /*null*/, bool, int64_t, std::string, DecimalLiteral>;

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  size_t offset = 0;  // byte offset of the token that starts this node in the source text
  std::string name;
  Literal literal;
  std::vector<std::unique_ptr<Expr>> args;
  bool has_receiver = false;
  int height = 1;  // levels of the tree below and including this node (bounded by the parser)

  // Filled by the checker.
  Type type;
  Field field = Field::kBirthDate;  // kSelect on a person or placement
  bool field_nullable = false;
  Builtin builtin = Builtin::kNone;  // kCall
  int slot = -1;                     // kIdent bound by a macro: the variable's slot
  int definition = -1;               // kCall of a named definition: its index
  std::string param;                 // kSelect on params: the parameter name
};

}  // namespace ennakko
