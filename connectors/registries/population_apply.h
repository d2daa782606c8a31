// Applying parsed population records (population_record.h) to the PopulationStore: the part that
// the file drop and the VTJ change feed share.
//
// ApplyPopulationBatch runs one batch — a file of the drop, a page of muutokset — in ONE
// transaction together with the connector's cursor advance: `feed` hands every record of the batch
// to the PopulationApplier in order; `check` runs first inside the transaction (say, that the
// stored cursor is still the one the batch follows) and `advance` last (it writes the new cursor).
// Either all of it commits or none of it.
//
// Invariants:
//  - A record that failed to parse is quarantined whole, with its reason, and the rest applied.
//  - Custody may name a person who appears later in the same batch; a record whose other party is
//    unknown even after the batch is quarantined whole and the batch re-applied without it in a
//    fresh transaction (feed is then called again: it must hand the same records).
//  - Applying the same batch twice changes nothing: the store skips writes that change no value,
//    quarantine entries are unique per (connector, batch, line), corrections already applied are
//    no-ops.
//  - The affected set holds everyone whose stored facts, custody, placements or identity changed,
//    plus the wards of changed guardians.
//  - Logs carry batch names, line numbers, counts and reasons, never identity codes or values.
//
// Thread-safety: none; one batch at a time on the Db's thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "connectors/registries/population_record.h"
#include "engine/base/status.h"
#include "engine/store/population.h"
#include "engine/store/sqlite.h"

namespace ennakko {

// Where a batch came from, for provenance and quarantine.
struct BatchSource {
  std::string connector;   // facts.source, quarantine.connector
  std::string batch;       // quarantine.batch: the file name, or the page's keys
  std::string change_tag;  // facts.change_id is "<change_tag>:<line>"
  std::string fetched_at;  // RFC 3339 UTC
};

struct BatchOutcome {
  int64_t applied = 0;
  int64_t quarantined = 0;
  int64_t unknown_groups = 0;
  std::set<std::string> unknown_names;
  std::vector<int64_t> affected;  // resident ids, sorted and unique (duplicates until Finish)
  // Lines whose custody names nobody, even after the whole batch: line -> reason.
  std::map<int64_t, std::string> unresolved;
};

class PopulationApplier {
 public:
  PopulationApplier(PopulationStore& store, const BatchSource& source,
                    const std::map<int64_t, std::string>& skip)
      : store_(store), source_(source), skip_(skip) {}

  // Call first, inside the batch's transaction.
  Status Begin();
  // Applies (or quarantines) the record at 1-based `line`. `raw` is kept in the quarantine.
  // An error return is the store's (the transaction must roll back).
  Status Apply(int64_t line, std::string_view raw, Result<PopulationRecord>& record);
  // Writes the `guardians` facts of the wards whose custody this batch changed and that are not
  // written yet, with the provenance of the last change applied to each (what writing it at every
  // link would leave). Call after the last Apply, before the transaction commits.
  Status WriteGuardiansFacts();
  // Ends the batch: custody still waiting for a person becomes `unresolved`.
  BatchOutcome Finish();

 private:
  struct Deferred {
    int64_t line;
    int64_t subject_id;
    std::string subject_hetu;
    CustodyChange change;
    std::optional<Date> change_date;
  };
  // The last custody change applied to a (guardian, ward) pair in this batch. VTJ states each
  // relation twice (HUOLTAJA_SUPPEA on the ward, HUOLLETTAVA_SUPPEA on the guardian); the second
  // statement of an identical change is a no-op and skips the store.
  struct RecentCustody {
    GroupChange change;
    std::optional<Date> start, end, change_date;
    friend bool operator==(const RecentCustody&, const RecentCustody&) = default;
  };
  static constexpr size_t kMaxRecentCustody = 4096;

  Provenance ProvenanceOf(int64_t line) const;
  Status Quarantine(int64_t line, std::string_view raw, std::string reason);
  Status ApplyCustody(std::string pair_key, int64_t subject_id, int64_t other_id,
                      const CustodyChange& c, std::optional<Date> change_date, int64_t line,
                      const Provenance& prov);

  PopulationStore& store_;
  const BatchSource& source_;
  const std::map<int64_t, std::string>& skip_;
  std::unordered_map<std::string, std::vector<Deferred>> waiting_;  // by the missing person's code
  std::unordered_map<std::string, RecentCustody> recent_;           // by guardian code + ward code
  // The ward's guardians fact is written once its custody has not changed for kGuardiansSettle
  // records (a snapshot states a family's links within a few lines: the fact is then written
  // once, usually while the ward's fact_sets row is still collected in the store's bulk mode),
  // and for the rest by WriteGuardiansFacts. A later change writes it again: correct either way.
  static constexpr int64_t kGuardiansSettle = 8;
  struct GuardiansChange {
    int64_t line;  // of the last change applied to the ward's custody
    uint64_t seq;  // its number in guardians_queue_
  };
  struct QueuedChange {
    int64_t ward;
    uint64_t seq;
    int64_t record;  // records_ when it was applied
  };
  Status WriteGuardiansFacts(int64_t settled_before);  // queued before record `settled_before`
  std::unordered_map<int64_t, GuardiansChange> guardians_changed_;  // by ward id
  std::deque<QueuedChange> guardians_queue_;                         // in the order applied
  uint64_t guardians_seq_ = 0;
  int64_t records_ = 0;  // Apply calls so far
  Provenance record_provenance_;  // of the record Apply is applying

  // A batch into a store with no residents (a first snapshot): everyone known was applied in this
  // batch, so a code none of whose records came yet is unknown without asking the store (whose
  // hetu index the link lookups of a snapshot mostly missed: adults come before their children).
  // The hashes of the codes applied, in an open-addressing set; a hash present means "ask the
  // store". Off after an identity correction.
  bool codes_complete_ = false;
  std::vector<uint64_t> applied_codes_;  // 0 = empty slot; size a power of two
  size_t applied_count_ = 0;
  static uint64_t CodeHash(std::string_view code);
  void NoteApplied(std::string_view code);
  bool MaybeApplied(std::string_view code) const;
  BatchOutcome out_;
};

// Applies one batch and its cursor advance in one transaction (see the file comment).
Result<BatchOutcome> ApplyPopulationBatch(Db& db, PopulationStore& store,
                                          const BatchSource& source,
                                          const std::function<Status(PopulationApplier&)>& feed,
                                          const std::function<Status()>& check,
                                          const std::function<Status()>& advance);

}  // namespace ennakko
