// VerifyAuditLog: reads a whole audit log and checks its hash chain and sequence numbers.
//
// Line by line it checks that the line parses as a JSON object with an unsigned "seq" and a 64-hex
// "prev"; that "prev" is the SHA-256 of the line before (64 zeros on line 1); that seq starts at 1
// and rises by one; and that the file ends with a newline. With an expected head (a seq and hash
// recorded elsewhere, e.g. by the operator or a monitoring job) it also checks that the line with
// that seq still has that hash, and that the log has not been cut short of it. It keeps going after
// a problem, so one run reports everything it can see.
//
// What each kind of tampering looks like: an edited line breaks the next line's "prev" (or, for the
// last line, the expected head); a removed line makes seq jump and breaks "prev"; reordered lines
// make seq go backwards; a cut-off tail is visible only against an expected head.
//
// Findings name 1-based line numbers and never quote line contents (they hold pseudonyms only, but
// a report is often pasted into tickets). Stateless and thread-safe; reads the file with no lock,
// so verifying a log that is being appended to sees some prefix of it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/base/status.h"

namespace ennakko {

struct AuditFinding {
  uint64_t line;        // 1-based line number in the file
  std::string problem;  // what is wrong, in plain words
};

struct AuditHead {
  uint64_t seq;      // seq of a line that was once the head
  std::string hash;  // its SHA-256, lower-case hex (AuditLog::head_hash())
};

struct VerifyReport {
  uint64_t lines = 0;                  // lines read, including a torn last line
  std::vector<AuditFinding> findings;  // in line order; empty when the log is intact
  std::string head_hash;               // SHA-256 of the last complete line (64 zeros if none)
  uint64_t last_seq = 0;               // seq of the last complete, parseable line (0 if none)
  bool ok() const { return findings.empty(); }
};

// Returns the report, or an error only when the file cannot be read (NotFound, Unavailable).
Result<VerifyReport> VerifyAuditLog(const std::string& path,
                                    std::optional<AuditHead> expected_head);

}  // namespace ennakko
