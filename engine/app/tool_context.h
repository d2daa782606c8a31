// What the operator tools (`ennakko explain`, `ennakko simulate`) share: the daemon's config, its
// store opened read-only, the pseudonymizer, and rule sets loaded aside.
//
// What it is for: the tools read what the daemon holds without ever writing to it — no migration,
// no decision, no outbox row, no audit event — so they can run beside a live daemon (SQLite WAL
// lets readers in while it writes). Errors are values: a config, store or rules problem comes back
// as a Status with a message fit for the operator's terminal (no personal data).
//
// Thread-safety: a ToolContext owns one Db connection and belongs to one thread.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "engine/app/config.h"
#include "engine/audit/pseudonym.h"
#include "engine/base/date.h"
#include "engine/base/status.h"
#include "engine/eval/program.h"
#include "engine/lang/diagnostics.h"
#include "engine/store/sqlite.h"

namespace ennakko {

struct ToolContext {
  Config config;
  std::unique_ptr<Db> db;  // read-only
  std::unique_ptr<Pseudonymizer> pseudonyms;
};

// Loads `config_path` and opens its store read-only. Config problems are in `diags`; a store that
// does not exist yet, or has a schema this binary does not know, is FailedPrecondition.
Result<ToolContext> OpenToolContext(const std::string& config_path, Diagnostics& diags);

// Opens an existing store read-only and checks its schema version.
Result<std::unique_ptr<Db>> OpenStoreReadOnly(const std::string& path);

// Loads, checks and compiles a rules directory; every problem is in `diags`.
Result<std::shared_ptr<const RuleSet>> LoadRuleSet(const std::string& directory, Diagnostics& diags);

// The evaluation date of a tool: `text` (YYYY-MM-DD) when given, else today in Helsinki.
Result<Date> EvaluationDate(const std::optional<std::string>& text);

}  // namespace ennakko
