// The static checker: resolves names, fields and functions in an expression and infers types,
// reporting every problem with its offset and a hint, before anything is evaluated.
//
// Checking annotates the Expr tree in place (see ast.h). A checked tree with no issues can be
// compiled. Pure function of its inputs; not thread-safe on the same tree.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/lang/ast.h"

namespace ennakko {

struct CheckEnv {
  // Declared parameters and their types (params.NAME).
  std::map<std::string, Type> params;
};

struct CheckIssue {
  size_t offset = 0;
  std::string message;
  std::string hint;
};

struct CheckResult {
  std::vector<CheckIssue> issues;
  std::set<std::string> subject_paths;  // "subject.birth_date", ... the facts the expression reads
  int slots = 0;                        // macro variable slots the expression needs
};

// Checks `expr`; when `expected` is given, the expression's type must be that type.
CheckResult CheckExpression(Expr& expr, const CheckEnv& env, std::optional<Type> expected);

}  // namespace ennakko
