#include "engine/audit/line_scan.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace ennakko::audit_internal {

namespace {
constexpr size_t kBackwardChunk = 64 * 1024;
}  // namespace

std::string ErrnoMessage(const std::string& what) { return what + ": " + std::strerror(errno); }

Status ReadRange(int fd, off_t offset, size_t length, std::string* out) {
  const size_t base = out->size();
  out->resize(base + length);
  size_t done = 0;
  while (done < length) {
    ssize_t n =
        ::pread(fd, out->data() + base + done, length - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::Unavailable(ErrnoMessage("read failed"));
    if (n == 0) {
      out->resize(base + done);
      return Status::Internal("file ended early while reading");
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<off_t> FindNewlineBackward(int fd, off_t before, size_t count) {
  std::vector<char> buf(kBackwardChunk);
  off_t end = before;
  while (end > 0) {
    const off_t start = std::max<off_t>(0, end - static_cast<off_t>(kBackwardChunk));
    const size_t len = static_cast<size_t>(end - start);
    size_t done = 0;
    while (done < len) {
      ssize_t n = ::pread(fd, buf.data() + done, len - done, start + static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::Unavailable(ErrnoMessage("read failed"));
      if (n == 0) return Status::Internal("file shrank while searching it for line ends");
      done += static_cast<size_t>(n);
    }
    for (size_t i = len; i > 0; --i) {
      if (buf[i - 1] == '\n' && --count == 0) return start + static_cast<off_t>(i - 1);
    }
    end = start;
  }
  return off_t{-1};
}

Result<off_t> FileSize(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Status::Unavailable(ErrnoMessage("fstat failed"));
  return st.st_size;
}

}  // namespace ennakko::audit_internal
