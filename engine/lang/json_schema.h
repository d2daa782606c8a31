// JSON Schema validation (valijson, draft 7) of YAML documents, with errors at file:line:col.
//
// A SchemaValidator is built once from a schema file and is immutable afterwards; Validate may be
// called from several threads at once (valijson's Schema is read-only during validation).
#pragma once

#include <memory>
#include <string>

#include "engine/base/status.h"
#include "engine/lang/diagnostics.h"
#include "engine/lang/yaml_source.h"

namespace valijson {
class Schema;
}

namespace ennakko {

class SchemaValidator {
 public:
  // Loads a JSON Schema from a file (JSON).
  static Result<std::unique_ptr<SchemaValidator>> FromFile(const std::string& path);
  static Result<std::unique_ptr<SchemaValidator>> FromJson(const nlohmann::json& schema);
  ~SchemaValidator();

  // Adds one diagnostic per violation, at the violating node's location; returns true when valid.
  // Only the most specific errors are reported (not every enclosing "failed to validate").
  bool Validate(const YamlDocument& doc, Diagnostics& diags) const;

 private:
  SchemaValidator();
  std::unique_ptr<valijson::Schema> schema_;
};

}  // namespace ennakko
