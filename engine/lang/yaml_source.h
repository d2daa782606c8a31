// YAML files as JSON plus source positions, for validation and diagnostics.
//
// A YamlDocument keeps the document converted to JSON (YAML 1.2 core schema: quoted scalars are
// strings; plain scalars become null, booleans, integers, floats or strings) and the location of
// every node by JSON pointer, so that a JSON Schema error or an expression error can be reported
// as file:line:col. Immutable after loading; safe to share for reading.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/base/status.h"
#include "engine/lang/diagnostics.h"

namespace ennakko {

// The text of a scalar as written in the file, with the location of each of its characters, so a
// parser of the scalar's contents (an expression) can point at the exact column.
struct ScalarSource {
  std::string text;
  std::vector<SourceLocation> char_locations;  // one per byte of text; may be shorter (fallback)
  SourceLocation start;
  SourceLocation LocationOf(size_t offset) const;
};

class YamlDocument {
 public:
  const std::string& file() const { return file_; }
  const nlohmann::json& json() const { return json_; }
  // Location of the node at a JSON pointer ("/offer/channels/0"); the nearest ancestor's location
  // when the pointer itself has none (e.g. a missing key: report at its parent object).
  SourceLocation At(const std::string& pointer) const;
  // The raw source of the string scalar at `pointer`, for block (>, |), quoted and plain scalars.
  ScalarSource Scalar(const std::string& pointer) const;

 private:
  friend Result<YamlDocument> ParseYaml(const std::string&, const std::string&, Diagnostics&);
  std::string file_;
  nlohmann::json json_;
  std::map<std::string, SourceLocation> locations_;
  std::vector<std::string> lines_;
};

// Parses YAML text; a syntax error becomes a diagnostic (with line and column) and an error result.
Result<YamlDocument> ParseYaml(const std::string& text, const std::string& file, Diagnostics& diags);
// Reads and parses a file; an unreadable file is a diagnostic too.
Result<YamlDocument> LoadYamlFile(const std::string& path, Diagnostics& diags);

// Escapes a key for use in a JSON pointer ("~" -> "~0", "/" -> "~1").
std::string JsonPointerEscape(const std::string& key);

}  // namespace ennakko
