// The project's JSON Schemas, compiled into the binary: "rule", "messages", "params", "config".
#pragma once

#include <string_view>

namespace ennakko {

// The schema's JSON text, or empty for an unknown name.
std::string_view EmbeddedSchema(std::string_view name);

}  // namespace ennakko
