// FileDropPopulationSource: the population connector that reads a directory of JSON Lines
// batches (docs/population-file-drop.md) and applies them to the store.
//
// What it is for: a municipality that cannot call VTJ directly drops an initial snapshot and then
// numbered change batches (000000.snapshot.jsonl, 000001.changes.jsonl, ...); Poll() applies every
// batch after the stored cursor, in number order, and tells the engine whom to re-evaluate.
//
// Invariants:
//  - A batch and its cursor advance commit in ONE transaction: after a crash or a failed commit,
//    either the whole batch and the new cursor are stored, or neither is.
//  - Batches are applied strictly in sequence: a gap (000004 missing while 000005 is there) stops
//    the poll at the gap, with a warning, until the missing batch arrives.
//  - Applying a batch twice (cursor reset by hand) yields the same state: every store write that
//    would not change a value is skipped, and quarantine entries are unique per (batch, line).
//  - A malformed line is quarantined whole (reason and 1-based line; the raw line kept in the
//    store, never logged) and the rest of the batch is applied. Custody may name a person who
//    appears later in the same batch; a line whose other party is unknown even after the batch is
//    quarantined whole, and the batch is re-applied without it in a fresh transaction.
//  - Logs carry batch names, line numbers, counts and reasons, never identity codes or values.
//
// Thread-safety: a FileDropPopulationSource keeps no state between polls but is meant to be
// polled from one thread (its connector's strand); Poll uses the given Db, which is not
// thread-safe. Inside Poll a helper thread reads and parses the batch ahead of the writes
// (batch_reader.h); it is joined before Poll returns. Two pollers on one database serialise on the
// write lock, and the second finds the cursor moved and stops with FailedPrecondition.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/base/date.h"
#include "engine/base/status.h"
#include "engine/store/sqlite.h"

namespace ennakko {

struct FileDropOptions {
  // The drop directory. Writers must create each batch under another name (say a .tmp suffix)
  // and rename it into place, so a batch is never read half-written.
  std::string directory;
  // The name in connector_cursors, quarantine and facts.source.
  std::string connector_name = "population-filedrop";
  // SQLite page cache (PRAGMA cache_size) of the polling connection while batches are applied,
  // restored afterwards. A snapshot touches the identity-code index at random: with SQLite's
  // default 2 MiB a million-person snapshot loads at about half the speed. 0 leaves it alone.
  int cache_mib = 256;
};

struct PollResult {
  int batches_applied = 0;
  int64_t records_applied = 0;      // lines applied (blank lines are not records)
  int64_t records_quarantined = 0;  // lines sent to quarantine
  int64_t unknown_groups = 0;       // group entries ignored because we do not handle the group
  // Residents whose stored facts, custody or placements changed, plus the wards of changed
  // guardians: the people the engine must re-evaluate. Sorted, unique.
  std::vector<int64_t> affected_resident_ids;
  std::string cursor;  // the last applied batch's file name after this poll ("" if none yet)
};

class FileDropPopulationSource {
 public:
  // `clock` stamps fetched_at; nullptr means the system clock. REQUIRES: clock outlives this.
  explicit FileDropPopulationSource(FileDropOptions options, const Clock* clock = nullptr);

  // Applies every complete batch after the cursor. On an error (I/O, the store), batches already
  // committed in this poll stay committed and the failing one leaves no trace; the next Poll
  // resumes at the failing batch. REQUIRES: db is migrated (OpenStore).
  Result<PollResult> Poll(Db& db);

  const FileDropOptions& options() const { return options_; }

 private:
  FileDropOptions options_;
  const Clock* clock_;
};

}  // namespace ennakko
