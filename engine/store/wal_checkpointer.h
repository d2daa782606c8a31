// Checkpoints the store's write-ahead log on a thread of its own.
//
// In WAL mode SQLite copies committed pages from the WAL into the database file in a
// "checkpoint", by default inside the commit that takes the WAL past 1,000 pages. A large commit
// then pays for the copy and its fsync on the writer's thread: 0.35-0.4 s of a 1,000,000-resident
// snapshot's 5 s load. The daemon's writer connection therefore opens with
// DbOptions::auto_checkpoint = false (a commit checkpoints only past 100,000 pages, a bound for
// when this thread cannot keep up), and a WalCheckpointer runs PRAGMA wal_checkpoint(PASSIVE)
// on a connection of its own every `every` (and once more when stopped). A passive checkpoint
// never blocks the writer or the readers; it copies the frames no reader still needs, so the WAL
// is reused from the start once everything is copied. Durability is unchanged: a commit is
// durable once its WAL frames are written (and synced with synchronous=FULL).
//
// Thread-safety: Start and the destructor from one thread; the counters from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "engine/base/status.h"
#include "engine/store/sqlite.h"

namespace ennakko {

class WalCheckpointer {
 public:
  // Opens its own connection to the database at `path` (in WAL mode already) and starts the
  // thread. `synchronous_full` as for the writer: the database file is synced after a copy.
  static Result<std::unique_ptr<WalCheckpointer>> Start(const std::string& path, bool synchronous_full,
                                                        std::chrono::milliseconds every);
  ~WalCheckpointer();  // stops the thread after a last checkpoint
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  // Checkpoints run so far, and the WAL frames the last one left uncopied (0: all copied).
  int64_t checkpoints() const { return checkpoints_.load(); }
  int64_t backlog() const { return backlog_.load(); }

 private:
  WalCheckpointer(std::unique_ptr<Db> db, std::chrono::milliseconds every);
  void Run();
  void CheckpointOnce();

  std::unique_ptr<Db> db_;
  const std::chrono::milliseconds every_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::atomic<int64_t> checkpoints_{0};
  std::atomic<int64_t> backlog_{0};
  std::thread thread_;
};

}  // namespace ennakko
