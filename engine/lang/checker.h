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

// A named definition as the checker sees it: name(person) -> result.
struct DefinitionSignature {
  int index = -1;
  Type result;
  // Facts of its person argument the definition reads ("birth_date", "guardians", ...), so that a
  // rule calling it with `subject` must declare them in data_held.
  std::set<std::string> person_fields;
};

struct CheckEnv {
  // Declared parameters and their types (params.NAME).
  std::map<std::string, Type> params;
  // Named definitions callable as name(person).
  std::map<std::string, DefinitionSignature> definitions;
  // When checking a definition's body: the name of its person argument (bound to slot 0).
  std::string argument;
};

struct CheckIssue {
  size_t offset = 0;
  std::string message;
  std::string hint;
};

struct CheckResult {
  std::vector<CheckIssue> issues;
  std::set<std::string> subject_paths;  // "subject.birth_date", ... the facts the expression reads
  std::set<std::string> argument_fields;  // in a definition: fields read of its argument
  int slots = 0;                        // macro variable slots the expression needs
};

// Checks `expr`; when `expected` is given, the expression's type must be that type.
CheckResult CheckExpression(Expr& expr, const CheckEnv& env, std::optional<Type> expected);

}  // namespace ennakko
