// Diagnostics: problems found in a user's file, each with file:line:col, a message and a hint.
//
// Loaders collect every problem instead of stopping at the first (a rule author fixes them all in
// one pass, as with a compiler). Lines and columns are 1-based. Not thread-safe; one per load.
#pragma once

#include <string>
#include <vector>

namespace ennakko {

struct SourceLocation {
  std::string file;
  int line = 0;    // 1-based; 0 = unknown
  int column = 0;  // 1-based; 0 = unknown
};

enum class Severity { kError, kWarning };

struct Diagnostic {
  SourceLocation location;
  Severity severity = Severity::kError;
  std::string message;
  std::string hint;  // optional: how to fix it
  // "file:line:col: error: message" plus "\n  hint: ..." when there is a hint.
  std::string ToString() const;
};

class Diagnostics {
 public:
  void Error(SourceLocation loc, std::string message, std::string hint = {});
  void Warning(SourceLocation loc, std::string message, std::string hint = {});
  void Append(const Diagnostics& other);
  bool has_errors() const { return errors_ > 0; }
  int error_count() const { return errors_; }
  const std::vector<Diagnostic>& items() const { return items_; }
  // All diagnostics sorted by file, line, column, one per line.
  std::string ToString() const;

 private:
  std::vector<Diagnostic> items_;
  int errors_ = 0;
};

}  // namespace ennakko
