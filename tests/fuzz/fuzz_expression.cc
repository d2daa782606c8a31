// libFuzzer target: the rule expression parser and the type checker.
//
// Every input is parsed with the default ParseLimits (the ones the rule loader uses); a parsed
// expression is then checked twice, once untyped and once where a bool is required, against an
// environment that declares a parameter of each type, a table and a few named definitions. Besides crashes, hangs and sanitizer
// reports, the target aborts when an invariant the rest of the engine relies on breaks: error and
// node offsets inside the text, a limit error for oversized or overdeep input.
//
// An input with two NUL bytes is a template that stands for up to 16 KiB (the length limit): see
// expand.h. "1\0+1\0" is a 16 KiB `1+1+...+1`.
//
// Build and run: tests/fuzz/run.sh (see tests/fuzz/README.md).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/lang/checker.h"
#include "engine/lang/parser.h"
#include "tests/fuzz/expand.h"

namespace {

using namespace ennakko;

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_expression: invariant broken: %s: %s\n", what, detail.c_str());
  std::abort();
}

const CheckEnv& Env() {
  static const CheckEnv env = [] {
    CheckEnv e;
    e.params["city_code"] = Type::Of(TypeKind::kString);
    e.params["preschool_age"] = Type::Of(TypeKind::kInt);
    e.params["cutoff"] = Type::Of(TypeKind::kDate);
    e.params["enabled"] = Type::Of(TypeKind::kBool);
    e.params["fee_percent"] = Type::Of(TypeKind::kDecimal);
    e.params["income_limit"] = Type{TypeKind::kTable, TypeKind::kDecimal};
    e.definitions["family_size"] = {0, Type::Of(TypeKind::kInt), {"guardians", "siblings"}};
    e.definitions["in_ecec"] = {1, Type::Of(TypeKind::kBool), {"placements"}};
    e.definitions["youngest_in_ecec"] = {2, Type::Of(TypeKind::kBool), {"placements", "siblings", "birth_date"}};
    return e;
  }();
  return env;
}

// Depth of the tree and its node offsets, walked iteratively so the walk itself cannot overflow.
size_t Walk(const Expr& root, size_t text_size) {
  size_t max_depth = 0;
  std::vector<std::pair<const Expr*, size_t>> stack{{&root, 1}};
  while (!stack.empty()) {
    auto [e, d] = stack.back();
    stack.pop_back();
    if (d > max_depth) max_depth = d;
    if (e->offset > text_size) Fail("node offset past the end of the text", std::to_string(e->offset));
    for (const auto& a : e->args) {
      if (!a) Fail("null child in a parsed tree", e->name);
      stack.push_back({a.get(), d + 1});
    }
  }
  return max_depth;
}

// The documented limits, checked once per run on inputs far past them (longer than -max_len).
void CheckLimits() {
  ParseLimits limits;
  auto refused = [&](const std::string& name, const std::string& text) {
    ParseResult r = ParseExpression(text, limits);
    if (r.expr) Fail("absurd input was accepted", name);
    if (r.error.message.find("limit") == std::string::npos) {
      Fail("absurd input refused without a limit error", name + ": " + r.error.message);
    }
  };
  refused("100k '('", std::string(100000, '('));
  refused("100k '['", std::string(100000, '['));
  refused("100k '!'", std::string(100000, '!') + "true");
  refused("100k '-'", std::string(100000, '-') + "1");
  refused("16 KiB + 1 of spaces", std::string(limits.max_length + 1, ' '));
  refused("1 MiB of '1+'", [] {
    std::string s;
    while (s.size() < (1u << 20)) s += "1+";
    return s + "1";
  }());
  std::string nested;  // depth just over the limit, well under the length limit
  for (int i = 0; i <= limits.max_depth; ++i) nested += "(";
  nested += "1";
  for (int i = 0; i <= limits.max_depth; ++i) nested += ")";
  refused("max_depth + 1 parentheses", nested);
  std::string ok = std::string(32, '(') + "1" + std::string(32, ')');
  if (!ParseExpression(ok, limits).expr) Fail("32 parentheses refused", ok);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  CheckLimits();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = fuzz::Expand(data, size, ParseLimits{}.max_length);
  ParseResult r = ParseExpression(text);
  if (!r.expr) {
    if (r.error.message.empty()) Fail("parse error without a message", text);
    if (r.error.offset > text.size()) Fail("parse error offset past the end", std::to_string(r.error.offset));
    return 0;
  }
  Walk(*r.expr, text.size());
  for (std::optional<Type> expected : {std::optional<Type>{}, std::optional<Type>{Type::Of(TypeKind::kBool)}}) {
    CheckResult c = CheckExpression(*r.expr, Env(), expected);
    for (const auto& issue : c.issues) {
      if (issue.message.empty()) Fail("check issue without a message", text);
      if (issue.offset > text.size()) Fail("check issue offset past the end", std::to_string(issue.offset));
    }
    if (c.slots < 0) Fail("negative slot count", text);
  }
  return 0;
}
