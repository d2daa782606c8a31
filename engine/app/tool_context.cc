#include "engine/app/tool_context.h"

#include <filesystem>

#include "engine/lang/rule.h"
#include "engine/store/migrations.h"

namespace ennakko {

Result<std::unique_ptr<Db>> OpenStoreReadOnly(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Status::FailedPrecondition("the store " + path + " does not exist yet: start `ennakko serve` first");
  }
  auto db = Db::Open({.path = path, .read_only = true});
  if (!db.ok()) return db.status();
  auto version = (*db)->UserVersion();
  if (!version.ok()) return version.status();
  if (*version == 0)
    return Status::FailedPrecondition("the store " + path + " has no schema yet: start `ennakko serve` first");
  if (*version > LatestSchemaVersion()) {
    return Status::FailedPrecondition("the store " + path + " has schema version " + std::to_string(*version) +
                                      ", newer than this binary's " + std::to_string(LatestSchemaVersion()));
  }
  return db;
}

Result<ToolContext> OpenToolContext(const std::string& config_path, Diagnostics& diags) {
  auto config = LoadConfig(config_path, diags);
  if (!config.ok()) return config.status();
  ToolContext ctx;
  ctx.config = std::move(*config);
  auto db = OpenStoreReadOnly(ctx.config.store_path);
  if (!db.ok()) return db.status();
  ctx.db = std::move(*db);
  ctx.pseudonyms = std::make_unique<Pseudonymizer>(ctx.config.pseudonym_key);
  return ctx;
}

Result<std::shared_ptr<const RuleSet>> LoadRuleSet(const std::string& directory, Diagnostics& diags) {
  auto sources = LoadRuleSources(directory, diags);
  if (!sources.ok()) return Status::Invalid("the rules in " + directory + " have errors");
  return RuleSet::Compile(*sources);
}

Result<Date> EvaluationDate(const std::optional<std::string>& text) {
  if (!text) return SystemClock().Today();
  auto d = Date::Parse(*text);
  if (!d) return Status::Invalid("--at must be a date YYYY-MM-DD");
  return *d;
}

}  // namespace ennakko
