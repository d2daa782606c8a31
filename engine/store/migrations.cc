#include "engine/store/migrations.h"

#include <array>
#include <filesystem>

#include <fmt/format.h>

namespace ennakko {

namespace {

// Each entry moves the schema from version i to i + 1.
constexpr std::array<const char*, 3> kMigrations = {
    // 1: the foundation schema.
    R"sql(
CREATE TABLE residents (
  id                 INTEGER PRIMARY KEY,
  hetu               TEXT NOT NULL UNIQUE,     -- identity code, the registry key
  birth_date         TEXT,                     -- YYYY-MM-DD, from the identity code
  death_date         TEXT,
  first_names        TEXT,
  last_name          TEXT,
  municipality       TEXT,                     -- kuntakoodi of the municipality of residence
  municipality_since TEXT,
  language           TEXT,                     -- mother tongue: fi, sv, en, ... (ISO 639-1)
  street_address     TEXT,                     -- NULL while address_protected
  postal_code        TEXT,
  post_office        TEXT,
  address_protected  INTEGER NOT NULL DEFAULT 0,  -- turvakielto: address never stored or sent
  phone              TEXT,                     -- from the city's customer register
  email              TEXT,
  updated_at         TEXT NOT NULL
);

-- Custody: guardian has custody of ward from start_date until end_date (NULL = open).
CREATE TABLE custody (
  guardian_id  INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
  ward_id      INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
  kind         TEXT,
  start_date   TEXT,
  end_date     TEXT,
  PRIMARY KEY (guardian_id, ward_id)
) WITHOUT ROWID;
CREATE INDEX custody_ward ON custody(ward_id);

-- Placements in city services (pre-primary, ECEC, school), from the city's own systems.
CREATE TABLE placements (
  resident_id  INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
  kind         TEXT NOT NULL,
  start_date   TEXT,
  end_date     TEXT,
  PRIMARY KEY (resident_id, kind, start_date)
) WITHOUT ROWID;

-- Provenance of every fact we hold about a resident: where it came from and when.
CREATE TABLE facts (
  resident_id  INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
  name         TEXT NOT NULL,      -- birth_date, death_date, name, municipality, address, ...
  source       TEXT NOT NULL,      -- connector name, e.g. population-filedrop
  change_id    TEXT NOT NULL,      -- batch and line, or the registry's change key
  fetched_at   TEXT NOT NULL,
  PRIMARY KEY (resident_id, name)
) WITHOUT ROWID;

-- Purpose-bound consents (MyData).
CREATE TABLE consents (
  resident_id  INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
  purpose      TEXT NOT NULL,
  granted_at   TEXT NOT NULL,
  expires_at   TEXT,
  revoked_at   TEXT,
  source       TEXT NOT NULL,
  PRIMARY KEY (resident_id, purpose)
) WITHOUT ROWID;

CREATE TABLE connector_cursors (
  connector    TEXT PRIMARY KEY,
  cursor       TEXT NOT NULL,
  updated_at   TEXT NOT NULL
);

CREATE TABLE quarantine (
  id           INTEGER PRIMARY KEY,
  connector    TEXT NOT NULL,
  batch        TEXT NOT NULL,
  line         INTEGER NOT NULL,
  reason       TEXT NOT NULL,
  record       TEXT NOT NULL,      -- the raw record, kept for correction; never logged
  quarantined_at TEXT NOT NULL,
  UNIQUE (connector, batch, line)
);

-- One decision per (service, subject, period): the verdict of each of the five conditions.
CREATE TABLE decisions (
  id           INTEGER PRIMARY KEY,
  service      TEXT NOT NULL,
  subject_id   INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
  period       TEXT NOT NULL,
  verdict      TEXT NOT NULL,      -- eligible | not_eligible | undetermined | excluded
  data_held    TEXT NOT NULL,      -- each condition: yes | no | undetermined
  permission   TEXT NOT NULL,
  obligation   TEXT NOT NULL,
  eligibility  TEXT NOT NULL,
  benefit      TEXT NOT NULL,
  reasons      TEXT NOT NULL,      -- JSON array of strings
  ruleset      TEXT NOT NULL,      -- rule-set revision (content hash)
  decided_at   TEXT NOT NULL,
  UNIQUE (service, subject_id, period)
);

-- The outbox: at most one offer per idempotency key, ever.
CREATE TABLE outbox (
  id              INTEGER PRIMARY KEY,
  idem_key        TEXT NOT NULL UNIQUE,  -- from (service, subject, recipient, period)
  service         TEXT NOT NULL,
  subject_id      INTEGER NOT NULL REFERENCES residents(id),
  recipient_id    INTEGER NOT NULL REFERENCES residents(id),
  period          TEXT NOT NULL,
  decision_id     INTEGER REFERENCES decisions(id),
  channel         TEXT,                  -- chosen when sending
  language        TEXT NOT NULL,
  state           TEXT NOT NULL,         -- queued | sending | sent | failed | in_doubt | cancelled
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT NOT NULL,
  last_error      TEXT,
  gateway_ref     TEXT,
  created_at      TEXT NOT NULL,
  updated_at      TEXT NOT NULL
);
CREATE INDEX outbox_due ON outbox(state, next_attempt_at);

-- Every delivery attempt and its result.
CREATE TABLE deliveries (
  id           INTEGER PRIMARY KEY,
  outbox_id    INTEGER NOT NULL REFERENCES outbox(id),
  attempt      INTEGER NOT NULL,
  channel      TEXT NOT NULL,
  status       TEXT NOT NULL,        -- sent | transient_failure | permanent_failure
  detail       TEXT,
  gateway_ref  TEXT,
  at           TEXT NOT NULL
);
CREATE INDEX deliveries_outbox ON deliveries(outbox_id);

-- The head of the audit chain, so that truncating or editing the last lines is detected too.
CREATE TABLE audit_head (
  id           INTEGER PRIMARY KEY CHECK (id = 1),
  seq          INTEGER NOT NULL,
  hash         TEXT NOT NULL
);
)sql",
    // 2: the last scheduled run of each rule (rules with trigger.schedule).
    R"sql(
CREATE TABLE rule_runs (
  service    TEXT PRIMARY KEY,
  last_run   TEXT NOT NULL
);
)sql",
    // 3: dispatch controls: services paused by an operator (kept across restarts) and the cached
    // Suomi.fi mailbox status of recipients (refreshed when older than the configured limit).
    R"sql(
CREATE TABLE service_pauses (
  service    TEXT PRIMARY KEY,
  paused_at  TEXT NOT NULL,
  paused_by  TEXT NOT NULL
);
CREATE TABLE mailbox_status (
  resident_id INTEGER PRIMARY KEY REFERENCES residents(id) ON DELETE CASCADE,
  active      INTEGER NOT NULL,     -- 1: an active Suomi.fi mailbox at checked_at
  checked_at  TEXT NOT NULL
);
)sql",
};

}  // namespace

int LatestSchemaVersion() { return static_cast<int>(kMigrations.size()); }

Status Migrate(Db& db) {
  auto v = db.UserVersion();
  if (!v.ok()) return v.status();
  if (*v > LatestSchemaVersion()) {
    return Status::FailedPrecondition(fmt::format(
        "database {} has schema version {}, newer than this binary's {}; upgrade ennakko",
        db.path(), *v, LatestSchemaVersion()));
  }
  for (int next = *v; next < LatestSchemaVersion(); ++next) {
    Transaction tx(db);
    ENNAKKO_RETURN_IF_ERROR(tx.begin_status());
    Status st = db.Exec(kMigrations[static_cast<size_t>(next)]);
    if (!st.ok()) return Status::Internal(fmt::format("migration {}: {}", next + 1, st.message()));
    ENNAKKO_RETURN_IF_ERROR(db.Exec(fmt::format("PRAGMA user_version = {}", next + 1)));
    ENNAKKO_RETURN_IF_ERROR(tx.Commit());
  }
  return Status::Ok();
}

Result<std::unique_ptr<Db>> OpenStore(const DbOptions& options) {
  if (options.path != ":memory:" && !options.read_only) {
    std::error_code ec;
    auto parent = std::filesystem::path(options.path).parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  }
  auto db = Db::Open(options);
  if (!db.ok()) return db.status();
  ENNAKKO_RETURN_IF_ERROR(Migrate(**db));
  return db;
}

}  // namespace ennakko
