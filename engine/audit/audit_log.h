// AuditLog: the append-only, hash-chained record of every step the daemon takes.
//
// The file is JSON Lines. Line k (1-based) is one object whose keys come in this order:
//   {"seq":k,"ts":"2026-11-22T08:00:00.123Z","type":"...","prev":"<64 hex>",<caller's fields>}
// "prev" is the SHA-256 (lower-case hex) of the exact bytes of line k-1 without its newline, or 64
// zeros on line 1; the head hash is the SHA-256 of the last line. Editing, removing or reordering
// lines therefore breaks the chain where verify.h can see it, and an operator who keeps a recent
// head (seq, hash) elsewhere can also detect a cut-off tail.
//
// Invariants: seq() is the seq of the last line written (0 for an empty log) and head_hash() its
// hash; bytes are only ever appended (the one exception is Open cutting off a torn tail, see
// Open). No string in the log looks like an identity code, phone number or e-mail address: Append
// refuses such events (personal_data_guard.h); residents appear only as pseudonyms (pseudonym.h).
//
// Durability: Append writes into a user-space buffer; an event is on disk only after Flush()
// returns OK (or after every Append with fsync_each_append). A crash loses at most the events
// appended since the last Flush, and may leave a torn last line, which the next Open sets aside.
//
// Thread-safety: all methods are safe to call concurrently (one mutex serialises appends, which
// keeps seq and the chain in one order). One AuditLog per file: Open takes an exclusive flock, so a
// second writer, in this process or another, is refused rather than allowed to fork the chain.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "engine/base/date.h"
#include "engine/base/status.h"

namespace ennakko {

struct AuditOptions {
  // The log file. Missing parent directories are created; the file is created with mode 0640.
  std::string path;
  // fsync after every Append. Makes each event durable when Append returns, at the price of a disk
  // flush per event (milliseconds on most disks); otherwise call Flush() at points that matter,
  // e.g. before acknowledging a batch.
  bool fsync_each_append = false;
  // The user-space write buffer. Larger buffers mean fewer write(2) calls while appending and more
  // events lost on a crash between flushes.
  size_t buffer_bytes = 1 << 20;
};

class AuditLog {
 public:
  // Opens or creates the log and recovers seq and head hash from its last complete line, reading
  // only the end of the file (the chain is not re-verified here: that is VerifyAuditLog's job and
  // would make start-up time grow with the log).
  //
  // A torn last line (bytes after the last newline, left by a crash mid-write) is moved to
  // "<path>.torn-<seq>", where <seq> is the seq of the recovery event, cut off the log, and an
  // event of type "audit.torn_tail_recovered" with fields {"bytes": n, "file": name} is appended
  // and flushed. Why: appending after the torn bytes would glue the next event onto them, making
  // one unparseable line that hides a real event; deleting them silently would destroy evidence
  // and leave no trace of the crash in the log. The torn bytes were never flushed by Flush(), so
  // no caller was promised they were durable, and no line's "prev" refers to them.
  //
  // Fails with FailedPrecondition if the last complete line is not an audit record (the log needs
  // an operator: run verify) or if another AuditLog holds the file.
  // REQUIRES: `clock` outlives the returned log.
  static Result<std::unique_ptr<AuditLog>> Open(const AuditOptions& options, const Clock& clock);

  // Flushes (best effort) and closes.
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends one event. `fields` is a JSON object (or null for none) whose members follow "prev" in
  // the line; they must not use the reserved keys seq, ts, type or prev. Returns InvalidArgument,
  // writing nothing, if type is empty, fields is not an object, a string is not valid UTF-8, or any
  // string (or key) anywhere in type or fields looks like personal data. After a failed write the
  // log refuses further appends (the file's tail is unknown); reopen it to recover.
  Status Append(std::string_view type, const nlohmann::json& fields);

  // Writes the buffer through to the disk (fflush + fsync).
  Status Flush();

  uint64_t seq() const;
  std::string head_hash() const;
  // Flushes, then returns the (seq, hash) of the last event on disk — both taken under one lock,
  // so that an event appended by another thread cannot fall between them.
  struct Head {
    uint64_t seq = 0;
    std::string hash;
  };
  Result<Head> FlushAndHead();

 private:
  AuditLog(AuditOptions options, const Clock& clock, std::FILE* file,
           std::unique_ptr<char[]> buffer, uint64_t seq, std::string head_hash);
  Status FlushLocked();

  // Constant after construction.
  const AuditOptions options_;
  const Clock& clock_;

  mutable std::mutex mu_;
  // Protected by mu_.
  std::FILE* file_;
  std::unique_ptr<char[]> buffer_;  // file_'s stdio buffer; outlives file_
  uint64_t seq_;
  std::string head_hash_;
  Status broken_;  // sticky: set when a write or flush failed
};

}  // namespace ennakko
