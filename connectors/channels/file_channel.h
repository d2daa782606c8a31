// A delivery channel that writes each message as a JSON file into a directory: for development,
// demos, tests, and as the hand-off to a print-and-post service.
//
// One file per idempotency key, `<directory>/<idempotency_key>.json`, written atomically (a
// temporary file in the same directory, fsync, rename, fsync of the directory), so a reader never
// sees a partial file and a crash leaves either no file or a whole one. Sending a key whose file
// already exists is success without rewriting it: the channel is idempotent. Files are created
// with mode 0600 because they hold personal data. Keys must be safe file names
// ([A-Za-z0-9._-], not starting with '.', at most 200 bytes); any other key is a permanent failure.
//
// With batch_sync (the daemon's setting), Send writes the temporary file without fsync and
// Flush() makes a whole batch durable at once: one syncfs of the directory's file system, then the
// renames, then one fsync of the directory. Two fsyncs per message cap the channel at a few
// thousand messages a second; one sync per batch does not. A file is still never visible before
// its content is durable. Send returns Sent before the rename: the dispatcher records the offer
// as sent only after Flush succeeded, and an offer whose Flush never came (a crash) is sent again
// (leaving a stale hidden temporary file behind).
//
// Thread-safe: concurrent sends of the same key both succeed with one file; the list of files
// waiting for Flush is behind a mutex.
#pragma once

#include <string>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/dispatch/channel.h"

namespace ennakko {

struct FileChannelOptions {
  // The directory receiving the files; created (with parents) on first send when missing.
  std::string directory;
  // Defer durability to Flush() (see above); false: each Send fsyncs and renames itself.
  bool batch_sync = false;
};

class FileChannel : public Channel {
 public:
  explicit FileChannel(FileChannelOptions options);

  std::string_view name() const override { return "file"; }
  bool idempotent() const override { return true; }
  std::string CannotReach(const Recipient&) const override { return {}; }  // reaches everyone
  // Sent(<file name>) when written or already present; Transient on an I/O error (disk full,
  // permissions: an operator can fix it); Permanent for an unsafe idempotency key.
  SendOutcome Send(const OutgoingMessage& message) override;
  Status Flush() override;

 private:
  FileChannelOptions options_;
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> pending_;  // protected by mu_: (temporary, final)
};

}  // namespace ennakko
