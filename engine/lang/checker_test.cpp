#include "engine/lang/checker.h"

#include <catch2/catch.hpp>

#include "engine/lang/parser.h"

using namespace ennakko;

namespace {
struct Checked {
  std::unique_ptr<Expr> expr;
  CheckResult result;
  std::string first_error() const { return result.issues.empty() ? "" : result.issues[0].message; }
};
Checked C(const std::string& text, std::optional<Type> expected = Type::Of(TypeKind::kBool)) {
  CheckEnv env;
  env.params["city_code"] = Type::Of(TypeKind::kString);
  env.params["preschool_age"] = Type::Of(TypeKind::kInt);
  auto parsed = ParseExpression(text);
  REQUIRE(parsed.expr);
  Checked c;
  c.result = CheckExpression(*parsed.expr, env, expected);
  c.expr = std::move(parsed.expr);
  return c;
}
}  // namespace

TEST_CASE("well-typed expressions check and record the facts they read", "[checker]") {
  auto c = C("subject.alive && subject.municipality == params.city_code && "
             "!subject.placements.exists(p, p.kind == \"preschool\") && "
             "year(subject.birth_date) == year(today) - params.preschool_age");
  CHECK(c.result.issues.empty());
  CHECK(c.result.subject_paths ==
        std::set<std::string>{"subject.alive", "subject.municipality", "subject.placements", "subject.birth_date"});
  CHECK(c.result.slots == 1);
  CHECK(C("subject.guardians", Type::ListOf(TypeKind::kPerson)).result.issues.empty());
  CHECK(C("subject.death_date == null").result.issues.empty());
  CHECK(C("subject.language in ['fi', 'sv']").result.issues.empty());
  CHECK(C("age_at(subject.birth_date, date(\"2026-08-01\")) >= 6").result.issues.empty());
}

TEST_CASE("type errors, unknown names and wrong arity are reported with hints", "[checker]") {
  CHECK(C("subject.birth_date == 2020").first_error() == "'==' cannot compare or combine date with int");
  CHECK(C("subject.colour == 'x'").first_error() == "unknown field 'colour' on person");
  CHECK(C("params.city == 'x'").first_error() == "unknown parameter 'city'");
  CHECK(C("year(today, today) == 1").first_error() == "'year' takes 1 argument, not 2");
  CHECK(C("yeer(today) == 1").first_error() == "unknown function 'yeer'");
  CHECK(C("subject.municipality").first_error() == "expression has type string but bool is required here");
  CHECK(C("kid.alive").first_error() == "unknown name 'kid'");
  CHECK(C("subject.guardians.exists(g, g.municipality)").first_error() ==
        "the predicate of 'exists' must be bool, not string");
  CHECK(C("date('2023-02-29') < today").first_error() == "'2023-02-29' is not a valid date");
  // Every problem at once, not only the first.
  auto many = C("subject.colour == 1 && yeer(today) == 2 && params.nope == 3");
  CHECK(many.result.issues.size() == 3);
}
