// Parser of the rule expression language (a small, CEL-like syntax):
//
//   a || b   a && b   !a   a == b  a != b  a < b  a <= b  a > b  a >= b   x in [..]
//   a + b  a - b  a * b  a / b  a % b   -a   c ? a : b   (a)   [a, b]
//   subject.birth_date   params.city_code   year(d)   list.exists(x, x.kind == "preschool")
//   literals: 42, "text", 'text', true, false, null
//
// Parsing is a pure function; it refuses inputs over the limits (length, nesting depth) with an
// error instead of exhausting the stack.
#pragma once

#include <memory>
#include <string>

#include "engine/lang/ast.h"

namespace ennakko {

struct ParseLimits {
  size_t max_length = 16 * 1024;  // bytes of expression text
  // Height of the syntax tree. Every later stage (checker, compiler, evaluator) recurses over the
  // tree, so this bounds their stack use too; left-leaning chains (a + b + c ..., a.b.c ...)
  // count as deep as they are.
  int max_depth = 128;
};

struct ParseError {
  size_t offset = 0;
  std::string message;
};

struct ParseResult {
  std::unique_ptr<Expr> expr;  // null on error
  ParseError error;
};

ParseResult ParseExpression(const std::string& text, const ParseLimits& limits = {});

}  // namespace ennakko
