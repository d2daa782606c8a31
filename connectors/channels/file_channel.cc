#include "connectors/channels/file_channel.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace ennakko {
namespace {

namespace fs = std::filesystem;

bool SafeFileName(std::string_view key) {
  if (key.empty() || key.size() > 200 || key.front() == '.') return false;
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string ErrnoText(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Writes all of `data` to `path` (created exclusively, mode 0600) and fsyncs it when `sync`.
bool WriteFileSynced(const std::string& path, const std::string& data, std::string& error, bool sync = true) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = ErrnoText("create temporary file");
    return false;
  }
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = ErrnoText("write");
      ::close(fd);
      return false;
    }
    done += size_t(n);
  }
  if (sync && ::fsync(fd) != 0) {
    error = ErrnoText("fsync");
    ::close(fd);
    return false;
  }
  if (::close(fd) != 0) {
    error = ErrnoText("close");
    return false;
  }
  return true;
}

void SyncDirectory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);  // best effort: the rename is already visible, this makes it durable
  ::close(fd);
}

}  // namespace

FileChannel::FileChannel(FileChannelOptions options) : options_(std::move(options)) {}

SendOutcome FileChannel::Send(const OutgoingMessage& message) {
  if (!SafeFileName(message.idempotency_key)) {
    return SendOutcome::Permanent("idempotency key is not a safe file name");
  }
  const std::string file_name = message.idempotency_key + ".json";
  const fs::path dir(options_.directory);
  const fs::path final_path = dir / file_name;

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return SendOutcome::Transient("create directory: " + ec.message());
  if (fs::exists(final_path, ec)) return SendOutcome::Sent(file_name);  // sent before

  nlohmann::json doc = {
      {"outbox_id", message.outbox_id},
      {"idempotency_key", message.idempotency_key},
      {"service", message.service},
      {"language", message.recipient.language},
      {"recipient_pseudonym", message.recipient.pseudonym},
      {"title", message.title},
      {"body", message.body},
  };
  std::string data;
  try {
    // Invalid UTF-8 in a text is replaced rather than failing the send.
    data = doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  } catch (const std::exception& e) {
    return SendOutcome::Permanent(std::string("encode JSON: ") + e.what());
  }

  // Unique per process, thread and call, so concurrent sends never share a temporary file.
  static std::atomic<uint64_t> counter{0};
  const fs::path tmp_path =
      dir / ("." + file_name + ".tmp." + std::to_string(::getpid()) + "." +
             std::to_string(counter.fetch_add(1)));
  std::string error;
  if (!WriteFileSynced(tmp_path.string(), data, error, !options_.batch_sync)) {
    fs::remove(tmp_path, ec);
    spdlog::warn("file channel: outbox {} ({}): {}", message.outbox_id,
                 message.recipient.pseudonym, error);
    return SendOutcome::Transient(error);
  }
  if (options_.batch_sync) {
    std::lock_guard lock(mu_);
    pending_.emplace_back(tmp_path.string(), final_path.string());
    return SendOutcome::Sent(file_name);
  }
  if (::rename(tmp_path.c_str(), final_path.c_str()) != 0) {
    error = ErrnoText("rename");
    fs::remove(tmp_path, ec);
    return SendOutcome::Transient(error);
  }
  SyncDirectory(dir.string());
  spdlog::debug("file channel: outbox {} ({}) written", message.outbox_id,
                message.recipient.pseudonym);
  return SendOutcome::Sent(file_name);
}

Status FileChannel::Flush() {
  std::vector<std::pair<std::string, std::string>> pending;
  {
    std::lock_guard lock(mu_);
    pending.swap(pending_);
  }
  if (pending.empty()) return Status::Ok();
  int dir_fd = ::open(options_.directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return Status::Unavailable("file channel: " + ErrnoText("open directory"));
  // The content of every temporary file first, then the names: no file is visible before its data.
  Status result = Status::Ok();
  if (::syncfs(dir_fd) != 0) result = Status::Unavailable("file channel: " + ErrnoText("syncfs"));
  for (const auto& [tmp, final_path] : pending) {
    if (!result.ok()) {
      std::error_code ec;
      fs::remove(tmp, ec);
      continue;
    }
    if (::rename(tmp.c_str(), final_path.c_str()) != 0) result = Status::Unavailable("file channel: " + ErrnoText("rename"));
  }
  if (result.ok() && ::fsync(dir_fd) != 0) result = Status::Unavailable("file channel: " + ErrnoText("fsync directory"));
  ::close(dir_fd);
  return result;
}

}  // namespace ennakko
