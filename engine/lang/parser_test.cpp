#include "engine/lang/parser.h"

#include <catch2/catch.hpp>

using namespace ennakko;

namespace {
// Renders a tree as an s-expression to pin precedence and associativity.
std::string Show(const Expr& e) {
  switch (e.kind) {
    case ExprKind::kLiteral:
      if (auto* b = std::get_if<bool>(&e.literal)) return *b ? "true" : "false";
      if (auto* i = std::get_if<int64_t>(&e.literal)) return std::to_string(*i);
      if (auto* s = std::get_if<std::string>(&e.literal)) return "\"" + *s + "\"";
      return "null";
    case ExprKind::kIdent: return e.name;
    case ExprKind::kSelect: return Show(*e.args[0]) + "." + e.name;
    default: {
      std::string out = "(" + e.name;
      for (const auto& a : e.args) out += " " + Show(*a);
      return out + ")";
    }
  }
}
std::string P(const std::string& text) {
  auto r = ParseExpression(text);
  return r.expr ? Show(*r.expr) : "error@" + std::to_string(r.error.offset) + ": " + r.error.message;
}
}  // namespace

TEST_CASE("operators bind by precedence, left to right", "[parser]") {
  CHECK(P("a || b && c") == "(|| a (&& b c))");
  CHECK(P("1 + 2 * 3 == 7") == "(== (+ 1 (* 2 3)) 7)");
  CHECK(P("1 - 2 - 3") == "(- (- 1 2) 3)");
  CHECK(P("!a && b") == "(&& (! a) b)");
  CHECK(P("x in [1, 2]") == "(in x ([] 1 2))");
  CHECK(P("c ? 1 : 2") == "(?: c 1 2)");
  CHECK(P("subject.placements.exists(p, p.kind == 'preschool')") ==
        "(exists subject.placements p (== p.kind \"preschool\"))");
  CHECK(P("year(today) - 6") == "(- (year today) 6)");
}

TEST_CASE("syntax errors say where and what", "[parser]") {
  CHECK(P("a &&") == "error@4: expression ends too early");
  CHECK(P("(a") == "error@2: expected ')' before the end");
  CHECK(P("a b") == "error@2: unexpected 'b' after the end of the expression");
  CHECK(P("'open") == "error@0: unterminated string");
  CHECK(P("a # b") == "error@2: unexpected character '#'");
  CHECK(P("99999999999999999999") == "error@0: integer literal out of range");
}

TEST_CASE("absurdly deep or long expressions are refused, not overflowing the stack", "[parser]") {
  std::string deep(100000, '(');
  auto r = ParseExpression(deep + "1" + std::string(100000, ')'), {.max_length = 1 << 20, .max_depth = 64});
  CHECK_FALSE(r.expr);
  CHECK(r.error.message.find("nested deeper than the limit") != std::string::npos);
  std::string nots(100000, '!');
  r = ParseExpression(nots + "a", {.max_length = 1 << 20, .max_depth = 64});
  CHECK_FALSE(r.expr);
  // Left-leaning chains are as deep as they are long: every later stage recurses over the tree.
  for (const char* link : {" && a", " + 1", ".b", ".f()", "[1]"}) {
    std::string chain = "a";
    for (int i = 0; i < 5000; ++i) chain += link;
    r = ParseExpression(chain, {.max_length = 1 << 20, .max_depth = 64});
    INFO(link);
    CHECK_FALSE(r.expr);
    CHECK(r.error.message == "expression nested deeper than the limit of 64");
  }
  std::string ok = "a";
  for (int i = 0; i < 60; ++i) ok += " && a";
  CHECK(ParseExpression(ok, {.max_length = 1 << 20, .max_depth = 64}).expr);
  r = ParseExpression(std::string(20000, 'a'));
  CHECK_FALSE(r.expr);
  CHECK(r.error.message.find("over the limit") != std::string::npos);
}
