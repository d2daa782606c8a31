// Versioned schema migrations, applied in order at start-up inside one transaction each.
//
// The schema version is PRAGMA user_version. Migrations are append-only: a released migration is
// never edited; a change is a new migration. Opening a database newer than this binary knows is an
// error (FailedPrecondition), so an old binary never writes into a schema it does not understand.
#pragma once

#include "engine/base/status.h"
#include "engine/store/sqlite.h"

namespace ennakko {

// The schema version this binary writes.
int LatestSchemaVersion();

// Brings `db` to LatestSchemaVersion(). Idempotent.
Status Migrate(Db& db);
// Migrates only up to `version` (tests of a migration's data conversion).
Status MigrateTo(Db& db, int version);

// Opens (creating if needed) the store at `path` and migrates it.
Result<std::unique_ptr<Db>> OpenStore(const DbOptions& options);

}  // namespace ennakko
