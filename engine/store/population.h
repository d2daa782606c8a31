// PopulationStore: the population facts the engine decides on (residents, custody, placements),
// each with its provenance, plus the connectors' cursors and quarantine, over one Db.
//
// What it is for: connectors (connectors/registries) turn registry records into ResidentUpdate,
// custody and placement calls; the store turns them into rows. It is the single writer of the
// population tables, so the invariants below hold whichever connector fed the data.
//
// Invariants (kept here, not by callers):
//  - A resident is keyed by the whole identity code, century sign included; birth_date is always
//    the date the code encodes.
//  - Every value held about a resident has one facts row (source, change id, fetch time); a fact
//    with no value has none. Stored compactly (migration 7): one provenance row per record line
//    that wrote something, and per resident one fact_sets row per such line with a bit mask of
//    the facts whose current value it set (masks disjoint, never 0); the `facts` view joins them
//    back to one row per fact. Provenance rows no fact refers to any more are kept (they are
//    small, and say which record lines changed something). Fact names: birth_date, death_date, name, municipality, address,
//    address_protected, language, phone, email, and for relations guardians (on the ward) and
//    placements (provenance of the latest change to the set).
//  - A write that would not change a value writes nothing: no column, no facts row, no
//    updated_at. Re-applying a change is therefore a no-op, and a facts row names the change that
//    set the current value.
//  - While address_protected (turvakielto) the address columns are NULL: turning protection on
//    clears the address, and address edits are dropped until it is turned off.
//  - Custody rows are (guardian, ward) pairs; placements are keyed (resident, kind, start date).
//
// Transactions: the store never BEGINs or COMMITs. The caller wraps a batch and its cursor advance
// in one Transaction, so they commit or roll back together.
//
// Thread-safety: none. Like its Db, a PopulationStore belongs to one thread; it holds prepared
// statements and must not outlive the Db it was opened on.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/base/date.h"
#include "engine/base/hetu.h"
#include "engine/base/status.h"
#include "engine/store/sqlite.h"

namespace ennakko {

// Where a value came from. change_id is connector-specific ("000003:17" = batch 3, line 17).
struct Provenance {
  std::string source;      // connector name, e.g. population-filedrop
  std::string change_id;   // batch and line, or the registry's change key
  std::string fetched_at;  // RFC 3339 UTC, when the connector read the change
};

struct PersonName {
  std::string first_names;
  std::string last_name;
  friend bool operator==(const PersonName&, const PersonName&) = default;
};

struct Residence {
  std::string municipality;   // kuntakoodi, three digits
  std::optional<Date> since;  // kuntaanMuuttopv
  friend bool operator==(const Residence&, const Residence&) = default;
};

struct PostalAddress {
  std::string street;
  std::string postal_code;
  std::string post_office;
  friend bool operator==(const PostalAddress&, const PostalAddress&) = default;
};

// One fact's edit in an update: leave it (default), set it, or clear it.
template <typename T>
class FactEdit {
 public:
  void Set(T v) {
    touched_ = true;
    value_ = std::move(v);
  }
  void Clear() {
    touched_ = true;
    value_.reset();
  }
  bool touched() const { return touched_; }
  const std::optional<T>& value() const { return value_; }

 private:
  bool touched_ = false;
  std::optional<T> value_;
};

// The edits one registry record makes to a resident's facts. Untouched facts stay as they are.
struct ResidentUpdate {
  FactEdit<PersonName> name;
  FactEdit<Date> death_date;
  FactEdit<Residence> residence;
  FactEdit<PostalAddress> address;        // dropped while the resident is address-protected
  std::optional<bool> address_protected;  // nullopt: leave; applied before `address`
  FactEdit<std::string> language;         // ISO 639-1
  FactEdit<std::string> phone;            // E.164
  FactEdit<std::string> email;
};

// A residents row.
struct Resident {
  int64_t id = 0;
  std::string hetu;
  Date birth_date;
  std::optional<Date> death_date;
  std::optional<PersonName> name;
  std::optional<Residence> residence;
  std::optional<PostalAddress> address;
  bool address_protected = false;
  std::optional<std::string> language;
  std::optional<std::string> phone;
  std::optional<std::string> email;
  friend bool operator==(const Resident&, const Resident&) = default;
};

struct UpsertOutcome {
  int64_t id = 0;
  bool created = false;  // the resident was new
  bool changed = false;  // any column or facts row was written (true when created)
};

struct Custody {
  int64_t guardian_id = 0;
  int64_t ward_id = 0;
  std::optional<std::string> kind;
  std::optional<Date> start;
  std::optional<Date> end;  // nullopt: open
  friend bool operator==(const Custody&, const Custody&) = default;
};

struct Placement {
  int64_t resident_id = 0;
  std::string kind;  // preschool | ecec | ...
  Date start;
  std::optional<Date> end;
  friend bool operator==(const Placement&, const Placement&) = default;
};

// What CorrectIdentityCode did.
struct IdentityCorrection {
  int64_t resident_id = 0;            // the resident now holding the new code (0: nobody known)
  bool changed = false;               // anything was written
  std::optional<int64_t> merged_id;   // the row merged into resident_id and removed
  std::vector<int64_t> affected;      // resident_id and everyone whose custody was re-pointed
};

struct QuarantineEntry {
  std::string connector;
  std::string batch;   // e.g. the batch file name
  int64_t line = 0;    // 1-based
  std::string reason;  // no personal data
  std::string record;  // the raw record; stored for correction, never logged
  std::string at;      // RFC 3339 UTC
};

class PopulationStore {
 public:
  // Prepares every statement once. REQUIRES: db is migrated (OpenStore) and outlives the store.
  static Result<std::unique_ptr<PopulationStore>> Open(Db& db);
  ~PopulationStore();
  PopulationStore(const PopulationStore&) = delete;
  PopulationStore& operator=(const PopulationStore&) = delete;

  // Bulk mode, for a batch applied in one transaction (ApplyPopulationBatch): provenance rows and
  // the fact_sets rows of residents created are collected and inserted up to 64 to a statement
  // (a statement's fixed cost was a third of a snapshot record's); provenance ids are assigned
  // here. Every store method that reads or changes those rows inserts what is collected first,
  // so every result is the same as without. REQUIRES: inside the caller's transaction, and
  // EndBulk (which inserts the rest) before it commits; AbandonBulk when it rolls back instead.
  Status BeginBulk();
  Status EndBulk();
  void AbandonBulk();

  // Finds or creates the resident with this identity code, then applies `update`.
  Result<UpsertOutcome> UpsertResident(const Hetu& hetu, const ResidentUpdate& update,
                                       const Provenance& provenance);
  // Applies `update` to an existing resident; true when something changed. NotFound if no such id.
  Result<bool> UpdateResident(int64_t id, const ResidentUpdate& update,
                              const Provenance& provenance);
  Result<std::optional<int64_t>> FindResident(std::string_view hetu);
  Result<std::optional<Resident>> GetResident(int64_t id);

  // Whether a custody write also records the ward's `guardians` fact (kWrite), or leaves that to
  // the caller (kCallerWrites), who then calls PutGuardiansFact with the provenance of the last
  // change it made to the ward's custody before its transaction commits. PopulationApplier does
  // that once per ward and batch instead of once per link (a snapshot writes two links a child).
  enum class GuardiansFact { kWrite, kCallerWrites };
  // Creates or replaces the (guardian, ward) relation; true when it changed.
  Result<bool> UpsertCustody(const Custody& custody, const Provenance& provenance,
                             GuardiansFact fact = GuardiansFact::kWrite);
  // Sets the end date of an existing relation; false when there is none or it already ends then.
  Result<bool> EndCustody(int64_t guardian_id, int64_t ward_id, Date end,
                          const Provenance& provenance,
                          GuardiansFact fact = GuardiansFact::kWrite);
  // Deletes the relation (a correction: it never existed); false when there was none.
  Result<bool> RemoveCustody(int64_t guardian_id, int64_t ward_id, const Provenance& provenance,
                             GuardiansFact fact = GuardiansFact::kWrite);
  // Records `provenance` as that of the ward's `guardians` fact.
  Status PutGuardiansFact(int64_t ward_id, const Provenance& provenance);
  Result<std::optional<Custody>> GetCustody(int64_t guardian_id, int64_t ward_id);
  Result<std::vector<Custody>> GuardiansOf(int64_t ward_id);
  Result<std::vector<int64_t>> WardsOf(int64_t guardian_id);
  // Every (guardian, ward) pair, in the table's order (one scan; for large affected sets).
  Result<std::vector<std::pair<int64_t, int64_t>>> AllCustodyPairs();

  // Creates or replaces the placement keyed (resident, kind, start); true when it changed.
  Result<bool> UpsertPlacement(const Placement& placement, const Provenance& provenance);
  Result<bool> RemovePlacement(int64_t resident_id, std::string_view kind, Date start,
                               const Provenance& provenance);
  Result<std::vector<Placement>> PlacementsOf(int64_t resident_id);

  // HENKILOTUNNUS_KORJAUS: the person known as `former` is from now on known as `current` (see
  // population_identity.cc). Only `former` known: that row takes the new code (and the birth date
  // it encodes). Both known: the former row is merged into the current one — custody, placements,
  // consents, decisions and outbox re-pointed, the current row's values winning where both hold
  // one (the former's fill the gaps), a queued offer the current row also has cancelled — and the
  // former row removed. The former code is kept in identity_code_history either way. Neither
  // known: nothing. Idempotent: a correction already applied changes nothing.
  Result<IdentityCorrection> CorrectIdentityCode(std::string_view former, const Hetu& current,
                                                 const Provenance& provenance);
  // Former identity codes of a resident, oldest correction first.
  Result<std::vector<std::string>> FormerIdentityCodes(int64_t resident_id);

  // KOTIMAINEN_POSTIOSOITE. nullopt clears it. Dropped (and cleared) while the resident is
  // address-protected; true when something changed. NotFound if no such resident.
  Result<bool> SetPostalAddress(int64_t resident_id, const std::optional<PostalAddress>& address,
                                const Provenance& provenance);
  Result<std::optional<PostalAddress>> GetPostalAddress(int64_t resident_id);

  // Records a rejected record. Idempotent per (connector, batch, line): the first entry stays.
  Status Quarantine(const QuarantineEntry& entry);
  Result<int64_t> CountQuarantined(std::string_view connector);

  Result<std::optional<std::string>> GetCursor(std::string_view connector);
  Status SetCursor(std::string_view connector, std::string_view cursor, std::string_view at);

  // Residents living (no death date) whose municipality of residence is `municipality`.
  Result<int64_t> CountAlive(std::string_view municipality);
  Result<int64_t> CountResidents();
  // Whether any resident is stored (cheap, unlike CountResidents).
  Result<bool> HasResidents();

 private:
  struct Statements;
  PopulationStore(Db& db, std::unique_ptr<Statements> s);
  Result<std::optional<Resident>> LoadResident(Stmt& query);
  Result<bool> UpdateRow(const Resident& before, const ResidentUpdate& update,
                         const Provenance& provenance);
  Status WriteFacts(const Resident& before, const Resident& after, const Provenance& provenance,
                    bool created);
  Status PutFact(int64_t id, std::string_view name, bool present, const Provenance& provenance);
  // Records `provenance` for the facts in mask `put` and removes the provenance of those in `clear`.
  Status SetFacts(int64_t id, int64_t put, int64_t clear, const Provenance& provenance, bool created);
  Result<int64_t> ProvenanceId(const Provenance& provenance);  // its provenance row, added if new
  Status WriteCustody(const Custody& c);
  // Bulk mode: inserts the collected rows.
  Status FlushBulk();
  // Bulk mode: SetFacts on the collected rows when they hold all of the resident's; false when
  // they do not (the caller runs the statements).
  Result<bool> SetCollectedFacts(int64_t id, int64_t put, int64_t clear, const Provenance& p);
  Status FlushBulkProvenance();
  Status FlushBulkFacts();

  Db& db_;
  std::unique_ptr<Statements> s_;
  Provenance last_provenance_;  // of the provenance row last added, last_provenance_id_
  int64_t last_provenance_id_ = 0;
  uint64_t last_provenance_rollbacks_ = 0;  // db_.rollbacks() when it was added
  struct BulkRows;
  std::unique_ptr<BulkRows> bulk_;  // non-null once BeginBulk ran; active while bulk_->active
};

}  // namespace ennakko
