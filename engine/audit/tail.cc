#include "engine/audit/tail.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

#include "engine/audit/line_scan.h"

namespace ennakko {

namespace {

using audit_internal::ErrnoMessage;

constexpr auto kPollInterval = std::chrono::milliseconds(200);
// New bytes are read in slices of this size so a log that grew by gigabytes while we slept does
// not have to fit in memory.
constexpr size_t kReadSlice = 1 << 20;

// An open log and how far into it complete lines have been printed.
struct Cursor {
  int fd = -1;
  ino_t inode = 0;
  off_t printed_to = 0;  // just past the last newline written to `out`

  ~Cursor() { Close(); }
  void Close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

// Opens `path` into `cursor`; false (and OK) if it does not exist.
Result<bool> OpenLog(const std::string& path, Cursor& cursor) {
  cursor.Close();
  cursor.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (cursor.fd < 0) {
    if (errno == ENOENT) return false;
    return Status::Unavailable(ErrnoMessage("cannot open " + path));
  }
  struct stat st {};
  if (::fstat(cursor.fd, &st) != 0) return Status::Unavailable(ErrnoMessage("fstat failed"));
  cursor.inode = st.st_ino;
  cursor.printed_to = 0;
  return true;
}

// Positions the cursor at the start of the last `n` complete lines.
Status SeekToLastLines(Cursor& cursor, size_t n) {
  auto size = audit_internal::FileSize(cursor.fd);
  if (!size.ok()) return size.status();
  auto last_nl = audit_internal::FindNewlineBackward(cursor.fd, *size, 1);
  if (!last_nl.ok()) return last_nl.status();
  if (*last_nl < 0 || n == 0) {
    // No complete line yet, or none wanted: print from the end of the complete lines on.
    cursor.printed_to = *last_nl + 1;
    return Status::Ok();
  }
  auto before = audit_internal::FindNewlineBackward(cursor.fd, *last_nl, n);
  if (!before.ok()) return before.status();
  cursor.printed_to = *before + 1;  // -1 + 1 = 0 when the file has fewer than n lines
  return Status::Ok();
}

// Prints the complete lines between the cursor and the current end of the file.
Status PrintNewLines(Cursor& cursor, std::ostream& out) {
  auto size = audit_internal::FileSize(cursor.fd);
  if (!size.ok()) return size.status();
  std::string pending;  // bytes read past printed_to that do not yet end in a newline
  off_t read_to = cursor.printed_to;
  while (read_to < *size) {
    const size_t want =
        static_cast<size_t>(std::min<off_t>(*size - read_to, static_cast<off_t>(kReadSlice)));
    ENNAKKO_RETURN_IF_ERROR(audit_internal::ReadRange(cursor.fd, read_to, want, &pending));
    read_to += static_cast<off_t>(want);
    const size_t last_nl = pending.rfind('\n');
    if (last_nl == std::string::npos) continue;  // a long line, or one still being written
    out.write(pending.data(), static_cast<std::streamsize>(last_nl + 1));
    cursor.printed_to += static_cast<off_t>(last_nl + 1);
    pending.erase(0, last_nl + 1);
  }
  out.flush();
  if (!out) return Status::Unavailable("cannot write to the output stream");
  return Status::Ok();
}

// True if `path` now names another file than the cursor's, or the file shrank below what was
// printed: either way the cursor must start over.
bool LogWasReplaced(const std::string& path, const Cursor& cursor) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;  // gone for now: keep the old one
  if (st.st_ino != cursor.inode) return true;
  return st.st_size < cursor.printed_to;
}

}  // namespace

Status TailAuditLog(const std::string& path, size_t last_n, bool follow, std::ostream& out,
                    const std::atomic<bool>& stop) {
  Cursor cursor;
  auto opened = OpenLog(path, cursor);
  if (!opened.ok()) return opened.status();
  if (*opened) {
    ENNAKKO_RETURN_IF_ERROR(SeekToLastLines(cursor, last_n));
    ENNAKKO_RETURN_IF_ERROR(PrintNewLines(cursor, out));
  } else if (!follow) {
    return Status::NotFound(path + " does not exist");
  }
  if (!follow) return Status::Ok();
  while (!stop.load()) {
    std::this_thread::sleep_for(kPollInterval);
    if (cursor.fd < 0 || LogWasReplaced(path, cursor)) {
      // A new file (or one appearing for the first time) is printed from its first line.
      opened = OpenLog(path, cursor);
      if (!opened.ok()) return opened.status();
      if (!*opened) continue;
    }
    ENNAKKO_RETURN_IF_ERROR(PrintNewLines(cursor, out));
  }
  return Status::Ok();
}

}  // namespace ennakko
