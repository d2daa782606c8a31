// TailAuditLog: prints the end of an audit log and, optionally, follows it as it grows (the
// operator's `audit tail -f`).
//
// Only complete lines (ending in a newline) are printed, each exactly once, so a line being
// written is never shown half-way. Following polls every 200 ms, which is cheap (one fstat) and
// needs no inotify; it copes with the file not existing yet, and starts again from the beginning
// if the file is replaced or shrinks below what was printed (a torn tail cut off at Open never
// shrinks it that far, as torn bytes are never printed). Reads the file with no lock and no
// effect on writers. Thread-safe as long as `out` is not shared.
#pragma once

#include <atomic>
#include <cstddef>
#include <ostream>
#include <string>

#include "engine/base/status.h"

namespace ennakko {

// Writes the last `last_n` complete lines of `path` to `out`. With `follow`, keeps writing new
// complete lines as they are appended until `stop` becomes true (checked at every poll), and waits
// for the file if it does not exist yet; without it, a missing file is NotFound.
Status TailAuditLog(const std::string& path, size_t last_n, bool follow, std::ostream& out,
                    const std::atomic<bool>& stop);

}  // namespace ennakko
