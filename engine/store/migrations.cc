#include "engine/store/migrations.h"

#include <algorithm>
#include <array>
#include <filesystem>

#include <fmt/format.h>

namespace ennakko {

namespace {

// Each entry moves the schema from version i to i + 1.
constexpr auto kMigrations = std::to_array<const char*>({
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
    // 3: consents: one row per grant with an id (the API revokes by id), history kept after
    // revocation and expiry; who recorded the revocation. Migration 1's table (keyed by resident
    // and purpose, so a re-grant overwrote the history) is copied over.
    R"sql(
CREATE TABLE consents_by_id (
  id              INTEGER PRIMARY KEY,
  resident_id     INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
  purpose         TEXT NOT NULL,
  granted_at      TEXT NOT NULL,   -- RFC 3339 UTC, fixed width (text order is time order)
  expires_at      TEXT,            -- NULL: until revoked
  revoked_at      TEXT,
  source          TEXT NOT NULL,   -- who recorded the grant, e.g. mydata-operator
  revoked_source  TEXT,            -- who recorded the revocation
  recorded_at     TEXT NOT NULL
);
INSERT INTO consents_by_id (resident_id, purpose, granted_at, expires_at, revoked_at, source, recorded_at)
  SELECT resident_id, purpose, granted_at, expires_at, revoked_at, source, granted_at FROM consents;
DROP TABLE consents;
ALTER TABLE consents_by_id RENAME TO consents;
CREATE INDEX consents_resident ON consents(resident_id, purpose);
CREATE INDEX consents_purpose ON consents(purpose, resident_id) WHERE revoked_at IS NULL;
)sql",
    // 4: VTJ identity-code corrections (HENKILOTUNNUS_KORJAUS) and postal addresses
    // (KOTIMAINEN_POSTIOSOITE).
    R"sql(
-- Every identity code a resident was known by before a correction. A former code is never
-- reused for another person, so it is the key; a correction chain (A -> B -> C) keeps both rows,
-- re-pointed at the surviving resident.
CREATE TABLE identity_code_history (
  former_hetu     TEXT PRIMARY KEY,
  resident_id     INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
  corrected_to    TEXT NOT NULL,     -- the code the correction named as active
  merged_from_id  INTEGER,           -- the residents.id removed when both codes had a row
  source          TEXT NOT NULL,
  change_id       TEXT NOT NULL,
  corrected_at    TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX identity_code_history_resident ON identity_code_history(resident_id);

-- The postal address (KOTIMAINEN_POSTIOSOITE), when it differs from the permanent address.
-- Never stored while the resident is address-protected (turvakielto).
CREATE TABLE postal_addresses (
  resident_id  INTEGER PRIMARY KEY REFERENCES residents(id) ON DELETE CASCADE,
  street       TEXT NOT NULL,
  postal_code  TEXT NOT NULL,
  post_office  TEXT NOT NULL
);
)sql",
    // 5: Incomes Register earnings reports (engine/store/incomes.h).
    R"sql(
-- The latest version seen of every Incomes Register report, cancelled ones included, so that an
-- older or equal version arriving again changes nothing.
CREATE TABLE income_reports (
  report_id    TEXT PRIMARY KEY,   -- IRReportId
  version      INTEGER NOT NULL,   -- ReportVersion
  action       TEXT NOT NULL,      -- new | replace | cancel (ActionCode)
  earner_id    INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
  received_at  TEXT NOT NULL,      -- when the Incomes Register received this version
  source       TEXT NOT NULL,
  change_id    TEXT NOT NULL,
  fetched_at   TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX income_reports_earner ON income_reports(earner_id);

-- The transactions of the version in force of each report; none for a cancelled report.
CREATE TABLE incomes (
  report_id    TEXT NOT NULL REFERENCES income_reports(report_id) ON DELETE CASCADE,
  line         INTEGER NOT NULL,   -- 1-based position of the transaction in the report
  version      INTEGER NOT NULL,
  action       TEXT NOT NULL,
  earner_id    INTEGER NOT NULL REFERENCES residents(id) ON DELETE CASCADE,
  payer_id     TEXT,               -- business id (or other payer id) of the payer
  payment_date TEXT,               -- PaymentPeriod/PaymentDate
  period_start TEXT,               -- earning period (the transaction's, else the payment period)
  period_end   TEXT,
  income_type  TEXT NOT NULL,      -- TransactionCode: the income type code
  amount_cents INTEGER NOT NULL,   -- Amount in euro cents, as reported (>= 0)
  one_off      INTEGER NOT NULL DEFAULT 0,
  recovery     INTEGER NOT NULL DEFAULT 0,  -- a recovery of an earlier payment
  received_at  TEXT NOT NULL,
  source       TEXT NOT NULL,
  change_id    TEXT NOT NULL,
  fetched_at   TEXT NOT NULL,
  PRIMARY KEY (report_id, line)
) WITHOUT ROWID;
CREATE INDEX incomes_earner ON incomes(earner_id);

-- Whose incomes were fetched, under which consent purpose, and up to when (receipt time).
CREATE TABLE incomes_fetched (
  resident_id      INTEGER PRIMARY KEY REFERENCES residents(id) ON DELETE CASCADE,
  purpose          TEXT NOT NULL,
  fetched_through  TEXT NOT NULL,  -- end of the last receipt-time window pulled
  fetched_at       TEXT NOT NULL
);
)sql",
    // 6: incremental re-evaluation cancels a subject's queued offers by (service, subject, period):
    // without an index each cancel scanned the whole outbox.
    R"sql(
CREATE INDEX outbox_subject ON outbox(service, subject_id, period);
)sql",
    // 7: replies: what happens after an offer is sent (engine/dispatch/offer_lifecycle.h). States
    // added: delivered, expired, reminded, replied (with outcome accepted | declined). A reminder
    // is an outbox row of its own (kind 'reminder', reply_to = the offer), sent at most once.
    R"sql(
ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'offer';   -- offer | reminder
ALTER TABLE outbox ADD COLUMN reply_to INTEGER REFERENCES outbox(id); -- a reminder's offer
ALTER TABLE outbox ADD COLUMN sent_at TEXT;        -- first accepted by a gateway
ALTER TABLE outbox ADD COLUMN delivered_at TEXT;   -- handset, mailbox read or paper mail created
ALTER TABLE outbox ADD COLUMN delivery TEXT;       -- how: handset | read | paper
ALTER TABLE outbox ADD COLUMN reminders INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN reminded_at TEXT;
ALTER TABLE outbox ADD COLUMN outcome TEXT;        -- accepted | declined
ALTER TABLE outbox ADD COLUMN replied_at TEXT;
ALTER TABLE outbox ADD COLUMN reply_via TEXT;      -- sms | link
ALTER TABLE outbox ADD COLUMN closed_at TEXT;      -- expired, or failed after it was sent
CREATE INDEX outbox_recipient_state ON outbox(recipient_id, state);
CREATE INDEX outbox_gateway_ref ON outbox(gateway_ref);

-- Every answer we received, matched or not. No text and no phone number: only what it meant.
CREATE TABLE replies (
  id           INTEGER PRIMARY KEY,
  outbox_id    INTEGER REFERENCES outbox(id),   -- NULL when no open offer matched
  via          TEXT NOT NULL,                   -- sms | link
  meaning      TEXT NOT NULL,                   -- accepted | declined | objection | unrecognised | ambiguous | no_offer | refused
  received_at  TEXT NOT NULL
);
CREATE INDEX replies_outbox ON replies(outbox_id);
)sql",
    // 8: dispatch controls: services paused by an operator (kept across restarts) and the cached
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
    // 9: the hand-over point of a send on a channel without idempotency (engine/dispatch/channel.h):
    // set, durably, right before the gateway can accept the message; cleared at each claim.
    R"sql(
ALTER TABLE outbox ADD COLUMN handed_over_at TEXT;
)sql",
    // 10: provenance stored once per record line (provenance) and referenced by id from a compact
    // fact_sets table (one row per resident and record line, the facts as a bit mask); `facts` is now a view with the old columns (readers unchanged), and an
    // insert into it still works (trigger). Cuts the store by about half and the load's writes.
    // Fact codes are fixed: PopulationStore writes them (engine/store/population.cc kFactCodes).
    R"sql(
CREATE TABLE provenance (
  id          INTEGER PRIMARY KEY,
  source      TEXT NOT NULL,      -- connector name, e.g. population-filedrop
  change_id   TEXT NOT NULL,      -- batch and line, or the registry's change key
  fetched_at  TEXT NOT NULL
);
CREATE TABLE fact_names (
  code  INTEGER PRIMARY KEY,
  name  TEXT NOT NULL UNIQUE
);
INSERT INTO fact_names (code, name) VALUES (1, 'birth_date'), (2, 'death_date'), (3, 'name'),
  (4, 'municipality'), (5, 'address'), (6, 'address_protected'), (7, 'language'), (8, 'phone'),
  (9, 'email'), (10, 'guardians'), (11, 'placements');
INSERT OR IGNORE INTO fact_names (name) SELECT DISTINCT name FROM facts;
INSERT INTO provenance (source, change_id, fetched_at)
  SELECT DISTINCT source, change_id, fetched_at FROM facts;
-- Which facts of a resident each provenance row set: one row per (resident, record line) with a
-- bit mask of fact codes (bit code - 1), so a snapshot record writes one row, not nine. The masks
-- of a resident's rows are disjoint (a fact has one provenance) and never 0. No foreign key on
-- resident_id: checking it cost a residents lookup per row; the store deletes a resident's rows
-- itself (the identity merge is the only place removing residents).
CREATE TABLE fact_sets (
  resident_id    INTEGER NOT NULL,  -- residents.id
  provenance_id  INTEGER NOT NULL,  -- provenance.id
  facts          INTEGER NOT NULL,  -- bit mask of fact_names.code - 1
  PRIMARY KEY (resident_id, provenance_id)
) WITHOUT ROWID;
INSERT INTO fact_sets (resident_id, provenance_id, facts)
  SELECT f.resident_id, p.id, sum(1 << (n.code - 1)) FROM facts AS f
  JOIN fact_names AS n ON n.name = f.name
  JOIN provenance AS p ON p.source = f.source AND p.change_id = f.change_id
                      AND p.fetched_at = f.fetched_at
  GROUP BY f.resident_id, p.id;
DROP TABLE facts;
CREATE VIEW facts (resident_id, name, source, change_id, fetched_at) AS
  SELECT s.resident_id, n.name, p.source, p.change_id, p.fetched_at
  FROM fact_sets AS s JOIN fact_names AS n ON (s.facts >> (n.code - 1)) & 1
  JOIN provenance AS p ON p.id = s.provenance_id;
CREATE TRIGGER facts_insert INSTEAD OF INSERT ON facts BEGIN
  INSERT OR IGNORE INTO fact_names (name) VALUES (NEW.name);
  INSERT INTO provenance (source, change_id, fetched_at) VALUES (NEW.source, NEW.change_id, NEW.fetched_at);
  UPDATE fact_sets SET facts = facts & ~(1 << ((SELECT code FROM fact_names WHERE name = NEW.name) - 1))
    WHERE resident_id = NEW.resident_id;
  DELETE FROM fact_sets WHERE resident_id = NEW.resident_id AND facts = 0;
  INSERT INTO fact_sets (resident_id, provenance_id, facts) VALUES (NEW.resident_id,
    (SELECT max(id) FROM provenance), 1 << ((SELECT code FROM fact_names WHERE name = NEW.name) - 1));
END;
)sql",
    // 11: an SMS whose send was cut off after the hand-over (a crash, a timeout) counts as sent
    // until confirm_by; a delivery report (any: receipt_at) proves the gateway had it, none by
    // then means it never did and the offer is sent again (Outbox::ResendUnconfirmed).
    R"sql(
ALTER TABLE outbox ADD COLUMN confirm_by TEXT;
ALTER TABLE outbox ADD COLUMN receipt_at TEXT;
CREATE INDEX outbox_confirm_by ON outbox (confirm_by) WHERE confirm_by IS NOT NULL;
)sql",
});

}  // namespace

int LatestSchemaVersion() { return static_cast<int>(kMigrations.size()); }

Status Migrate(Db& db) { return MigrateTo(db, LatestSchemaVersion()); }

Status MigrateTo(Db& db, int target) {
  auto v = db.UserVersion();
  if (!v.ok()) return v.status();
  if (*v > LatestSchemaVersion()) {
    return Status::FailedPrecondition(fmt::format(
        "database {} has schema version {}, newer than this binary's {}; upgrade ennakko",
        db.path(), *v, LatestSchemaVersion()));
  }
  for (int next = *v; next < std::min(target, LatestSchemaVersion()); ++next) {
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
