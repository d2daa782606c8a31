#include "engine/audit/audit_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <utility>

#include "engine/audit/line_scan.h"
#include "engine/audit/personal_data_guard.h"
#include "engine/base/crypto.h"

namespace ennakko {

namespace fs = std::filesystem;
using audit_internal::ErrnoMessage;

namespace {

const std::string kZeroHash(64, '0');

Status FsyncDirectoryOf(const std::string& path) {
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::Unavailable(ErrnoMessage("cannot open " + dir.string()));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Status::Unavailable(ErrnoMessage("fsync of " + dir.string() + " failed"));
  return Status::Ok();
}

struct Recovered {
  uint64_t seq = 0;
  std::string head_hash = kZeroHash;
  off_t complete_end = 0;  // just past the last newline
  off_t size = 0;
};

// Reads the last complete line of the open log: its seq and hash, and where the torn tail starts.
Result<Recovered> ReadLogEnd(int fd, const std::string& path) {
  Recovered r;
  auto size = audit_internal::FileSize(fd);
  if (!size.ok()) return size.status();
  r.size = *size;
  auto last_nl = audit_internal::FindNewlineBackward(fd, r.size, 1);
  if (!last_nl.ok()) return last_nl.status();
  if (*last_nl < 0) return r;  // empty, or nothing but a torn first line
  r.complete_end = *last_nl + 1;
  auto prev_nl = audit_internal::FindNewlineBackward(fd, *last_nl, 1);
  if (!prev_nl.ok()) return prev_nl.status();
  const off_t start = *prev_nl + 1;
  std::string line;
  ENNAKKO_RETURN_IF_ERROR(
      audit_internal::ReadRange(fd, start, static_cast<size_t>(*last_nl - start), &line));
  auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (record.is_discarded() || !record.is_object() || !record.contains("seq") ||
      !record["seq"].is_number_unsigned()) {
    return Status::FailedPrecondition("the last complete line of " + path +
                                      " is not an audit record; run audit verify and repair the "
                                      "log before appending to it");
  }
  r.seq = record["seq"].get<uint64_t>();
  r.head_hash = Sha256Hex(line);
  return r;
}

// Copies the torn bytes [from, size) to a new file next to the log and cuts them off the log. The
// copy is made durable before the cut, so a crash in between loses nothing. Returns the new file's
// name (without directory).
Result<std::string> SetTornTailAside(int fd, const std::string& path, off_t from, off_t size,
                                     uint64_t recovery_seq) {
  std::string torn;
  ENNAKKO_RETURN_IF_ERROR(
      audit_internal::ReadRange(fd, from, static_cast<size_t>(size - from), &torn));
  // A crash after the copy but before the cut leaves a copy with this name: never overwrite it.
  std::string target = path + ".torn-" + std::to_string(recovery_seq);
  int out = -1;
  for (int attempt = 1; out < 0; ++attempt) {
    out = ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (out >= 0) break;
    if (errno != EEXIST || attempt > 1000) {
      return Status::Unavailable(ErrnoMessage("cannot create " + target));
    }
    target = path + ".torn-" + std::to_string(recovery_seq) + "." + std::to_string(attempt);
  }
  size_t done = 0;
  while (done < torn.size()) {
    ssize_t n = ::write(out, torn.data() + done, torn.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(out);
      return Status::Unavailable(ErrnoMessage("cannot write " + target));
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(out) == 0;
  ::close(out);
  if (!synced) return Status::Unavailable(ErrnoMessage("fsync of " + target + " failed"));
  ENNAKKO_RETURN_IF_ERROR(FsyncDirectoryOf(path));
  if (::ftruncate(fd, from) != 0 || ::fsync(fd) != 0) {
    return Status::Unavailable(ErrnoMessage("cannot cut the torn tail off " + path));
  }
  return fs::path(target).filename().string();
}

}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const AuditOptions& options, const Clock& clock) {
  if (options.path.empty()) return Status::Invalid("audit log path is empty");
  const fs::path parent = fs::path(options.path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) return Status::Unavailable("cannot create " + parent.string() + ": " + ec.message());
  }
  int fd = ::open(options.path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return Status::Unavailable(ErrnoMessage("cannot open " + options.path));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const bool held = errno == EWOULDBLOCK;
    Status st =
        held ? Status::FailedPrecondition(options.path + " is already open for appending elsewhere")
             : Status::Unavailable(ErrnoMessage("cannot lock " + options.path));
    ::close(fd);
    return st;
  }
  auto end = ReadLogEnd(fd, options.path);
  if (!end.ok()) {
    ::close(fd);
    return end.status();
  }
  const off_t torn_bytes = end->size - end->complete_end;
  std::string torn_file;
  if (torn_bytes > 0) {
    auto moved = SetTornTailAside(fd, options.path, end->complete_end, end->size, end->seq + 1);
    if (!moved.ok()) {
      ::close(fd);
      return moved.status();
    }
    torn_file = std::move(moved).value();
  }
  Status dir_synced = FsyncDirectoryOf(options.path);  // the log file itself may be new
  if (!dir_synced.ok()) {
    ::close(fd);
    return dir_synced;
  }
  std::FILE* file = ::fdopen(fd, "a");
  if (file == nullptr) {
    Status st = Status::Unavailable(ErrnoMessage("fdopen of " + options.path + " failed"));
    ::close(fd);
    return st;
  }
  const size_t buffer_bytes = options.buffer_bytes > 0 ? options.buffer_bytes : 1;
  auto buffer = std::make_unique<char[]>(buffer_bytes);
  std::setvbuf(file, buffer.get(), _IOFBF, buffer_bytes);
  std::unique_ptr<AuditLog> log(
      new AuditLog(options, clock, file, std::move(buffer), end->seq, end->head_hash));
  if (torn_bytes > 0) {
    nlohmann::json fields = {{"bytes", static_cast<uint64_t>(torn_bytes)}, {"file", torn_file}};
    ENNAKKO_RETURN_IF_ERROR(log->Append("audit.torn_tail_recovered", fields));
    ENNAKKO_RETURN_IF_ERROR(log->Flush());
  }
  return log;
}

AuditLog::AuditLog(AuditOptions options, const Clock& clock, std::FILE* file,
                   std::unique_ptr<char[]> buffer, uint64_t seq, std::string head_hash)
    : options_(std::move(options)),
      clock_(clock),
      file_(file),
      buffer_(std::move(buffer)),
      seq_(seq),
      head_hash_(std::move(head_hash)) {}

AuditLog::~AuditLog() {
  std::lock_guard lock(mu_);
  if (broken_.ok()) (void)FlushLocked();
  std::fclose(file_);  // also releases the flock
}

Status AuditLog::Append(std::string_view type, const nlohmann::json& fields) {
  if (type.empty()) return Status::Invalid("audit event type is empty");
  if (!fields.is_null() && !fields.is_object()) {
    return Status::Invalid("audit event fields must be a JSON object");
  }
  // Everything that does not depend on seq or prev is checked and serialised before taking the
  // lock, so concurrent appenders mostly wait only for the hash and the buffered write.
  if (auto kind = FindPersonalData(type)) {
    return Status::Invalid(std::string("audit event type looks like ") +
                           PersonalDataKindName(*kind));
  }
  ENNAKKO_RETURN_IF_ERROR(CheckNoPersonalData(fields, "fields"));
  for (const char* key : {"seq", "ts", "type", "prev"}) {
    if (fields.contains(key)) {
      return Status::Invalid(std::string("audit event field \"") + key + "\" is reserved");
    }
  }
  // The line is assembled from pieces in the order seq, ts, type, prev, fields: byte for byte what
  // nlohmann::ordered_json would write, without copying the fields into one, and with one dump of
  // the fields object ({"a":1,"b":2}, whose '{' is dropped) serialised before taking the lock.
  std::string type_json;
  std::string fields_json;
  try {
    type_json = nlohmann::json(type).dump();
    if (fields.is_object() && !fields.empty()) fields_json = fields.dump();
  } catch (const nlohmann::json::exception& e) {
    // dump() throws only on strings that are not valid UTF-8; e.what() names a byte, not the text.
    return Status::Invalid(std::string("audit event is not valid UTF-8: ") + e.what());
  }
  std::lock_guard lock(mu_);
  if (!broken_.ok()) return broken_;
  std::string line;
  line.reserve(96 + type_json.size() + fields_json.size());
  line.append("{\"seq\":").append(std::to_string(seq_ + 1));
  line.append(",\"ts\":\"").append(FormatTimestamp(clock_.Now()));
  line.append("\",\"type\":").append(type_json);
  line.append(",\"prev\":\"").append(head_hash_).append("\"");
  if (fields_json.empty()) {
    line.append("}");
  } else {
    line.append(",").append(fields_json, 1, std::string::npos);
  }
  std::string hash = Sha256Hex(line);
  line.push_back('\n');
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size()) {
    broken_ =
        Status::Unavailable(ErrnoMessage("audit log write failed") + "; reopen the log to recover");
    return broken_;
  }
  ++seq_;
  head_hash_ = std::move(hash);
  if (options_.fsync_each_append) return FlushLocked();
  return Status::Ok();
}

Status AuditLog::Flush() {
  std::lock_guard lock(mu_);
  if (!broken_.ok()) return broken_;
  return FlushLocked();
}

Status AuditLog::FlushLocked() {
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0) {
    // After a failed fsync the kernel may have dropped the dirty pages: what reached the disk is
    // unknown, so stop appending rather than chain onto a tail that may not exist.
    broken_ =
        Status::Unavailable(ErrnoMessage("audit log flush failed") + "; reopen the log to recover");
    return broken_;
  }
  return Status::Ok();
}

Result<AuditLog::Head> AuditLog::FlushAndHead() {
  std::lock_guard lock(mu_);
  if (!broken_.ok()) return broken_;
  ENNAKKO_RETURN_IF_ERROR(FlushLocked());
  return Head{seq_, head_hash_};
}

uint64_t AuditLog::seq() const {
  std::lock_guard lock(mu_);
  return seq_;
}

std::string AuditLog::head_hash() const {
  std::lock_guard lock(mu_);
  return head_hash_;
}

}  // namespace ennakko
