#include "engine/lang/json_schema.h"

#include <fstream>

#include <fmt/format.h>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace ennakko {

SchemaValidator::SchemaValidator() : schema_(std::make_unique<valijson::Schema>()) {}
SchemaValidator::~SchemaValidator() = default;

Result<std::unique_ptr<SchemaValidator>> SchemaValidator::FromFile(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Status::NotFound("cannot read schema " + path);
  nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
  if (j.is_discarded()) return Status::Invalid("schema " + path + " is not valid JSON");
  return FromJson(j);
}

Result<std::unique_ptr<SchemaValidator>> SchemaValidator::FromJson(const nlohmann::json& schema) {
  std::unique_ptr<SchemaValidator> v(new SchemaValidator());
  try {
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(schema);
    parser.populateSchema(adapter, *v->schema_);
  } catch (const std::exception& e) {
    return Status::Invalid(std::string("invalid JSON Schema: ") + e.what());
  }
  return v;
}

namespace {

std::string ContextToPointer(const std::vector<std::string>& context) {
  std::string p;
  for (const auto& c : context) {
    if (c == "<root>") continue;
    if (c.size() >= 2 && c.front() == '[' && c.back() == ']') {
      p += "/" + JsonPointerEscape(c.substr(1, c.size() - 2));
    }
  }
  return p;
}

bool IsPrefix(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  return a.size() < b.size() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace

bool SchemaValidator::Validate(const YamlDocument& doc, Diagnostics& diags) const {
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(doc.json());
  if (validator.validate(*schema_, target, &results)) return true;
  std::vector<valijson::ValidationResults::Error> errors(results.begin(), results.end());
  // The shadowing below compares every error with every other: a document with thousands of bad
  // list items would take seconds. Nobody reads past the first hundreds; say how many are left.
  constexpr size_t kMaxErrors = 200;
  if (errors.size() > kMaxErrors) {
    diags.Error(doc.At(""), fmt::format("{} more schema problems not shown", errors.size() - kMaxErrors),
                "fix the ones shown and check again");
    errors.resize(kMaxErrors);
  }
  for (const auto& e : errors) {
    // An error about a whole subtree is noise when a more specific error inside it exists.
    // Only valijson's summaries ("Failed to validate against ...") are shadowed; an unknown key or
    // a wrong value is always its own problem even when a child has another.
    bool shadowed = false;
    bool summary = e.description.rfind("Failed to", 0) == 0;
    for (const auto& other : errors) {
      if (!summary) break;
      if (IsPrefix(e.context, other.context)) {
        shadowed = true;
        break;
      }
    }
    if (shadowed) continue;
    std::string pointer = ContextToPointer(e.context);
    SourceLocation loc = doc.At(pointer);
    std::string hint;
    const std::string& d = e.description;
    // valijson names an unexpected key at the end: "...constraints: 'foo'." Point at the key.
    if (auto q = d.rfind("constraints: '"); q != std::string::npos) {
      auto start = q + 14;
      auto end = d.find('\'', start);
      if (end != std::string::npos) {
        std::string key = d.substr(start, end - start);
        loc = doc.At(pointer + "/" + JsonPointerEscape(key) + "#key");
        diags.Error(loc, "unknown key '" + key + "'" + (pointer.empty() ? "" : " in " + pointer),
                    "check the spelling; allowed keys are listed in the schema");
        continue;
      }
    }
    if (d.find("Missing required property") != std::string::npos) {
      hint = "add the missing key";
    }
    diags.Error(loc, (pointer.empty() ? std::string("document") : pointer) + ": " + d, hint);
  }
  return false;
}

}  // namespace ennakko
