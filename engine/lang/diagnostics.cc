#include "engine/lang/diagnostics.h"

#include <algorithm>

#include <fmt/format.h>

namespace ennakko {

std::string Diagnostic::ToString() const {
  std::string where = location.file;
  if (location.line > 0) where += fmt::format(":{}", location.line);
  if (location.column > 0) where += fmt::format(":{}", location.column);
  std::string out = fmt::format("{}: {}: {}", where,
                                severity == Severity::kError ? "error" : "warning", message);
  if (!hint.empty()) out += "\n  hint: " + hint;
  return out;
}

void Diagnostics::Error(SourceLocation loc, std::string message, std::string hint) {
  items_.push_back({std::move(loc), Severity::kError, std::move(message), std::move(hint)});
  ++errors_;
}

void Diagnostics::Warning(SourceLocation loc, std::string message, std::string hint) {
  items_.push_back({std::move(loc), Severity::kWarning, std::move(message), std::move(hint)});
}

void Diagnostics::Append(const Diagnostics& other) {
  for (const auto& d : other.items_) {
    items_.push_back(d);
    if (d.severity == Severity::kError) ++errors_;
  }
}

std::string Diagnostics::ToString() const {
  std::vector<const Diagnostic*> sorted;
  for (const auto& d : items_) sorted.push_back(&d);
  std::stable_sort(sorted.begin(), sorted.end(), [](const Diagnostic* a, const Diagnostic* b) {
    return std::tie(a->location.file, a->location.line, a->location.column) <
           std::tie(b->location.file, b->location.line, b->location.column);
  });
  std::string out;
  for (const auto* d : sorted) out += d->ToString() + "\n";
  return out;
}

}  // namespace ennakko
