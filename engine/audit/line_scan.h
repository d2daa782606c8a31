// File helpers shared by the audit log writer, verifier and tail: positional reads and a backward
// search for line ends, so that the end of a large log (100 MB and more) is found by reading only
// its last few kilobytes.
//
// Internal to engine/audit. Functions take a file descriptor they do not own and keep no state;
// they use pread, so they do not move the descriptor's offset and are safe to call from several
// threads on one descriptor.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

#include "engine/base/status.h"

namespace ennakko::audit_internal {

// Appends bytes [offset, offset + length) of `fd` to *out. Fails if the file is shorter.
Status ReadRange(int fd, off_t offset, size_t length, std::string* out);

// The offset of the count-th '\n' found scanning backwards from `before` (exclusive), or -1 when
// fewer than `count` newlines precede `before`. REQUIRES: count >= 1.
Result<off_t> FindNewlineBackward(int fd, off_t before, size_t count);

// The size of the open file, from fstat.
Result<off_t> FileSize(int fd);

// "what: strerror(errno)", for Status messages.
std::string ErrnoMessage(const std::string& what);

}  // namespace ennakko::audit_internal
