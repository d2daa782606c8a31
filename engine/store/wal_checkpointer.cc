#include "engine/store/wal_checkpointer.h"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace ennakko {

Result<std::unique_ptr<WalCheckpointer>> WalCheckpointer::Start(const std::string& path, bool synchronous_full,
                                                                std::chrono::milliseconds every) {
  if (path == ":memory:") return Status::Invalid("an in-memory database has no write-ahead log");
  auto db = Db::Open({.path = path, .synchronous_full = synchronous_full, .auto_checkpoint = false});
  if (!db.ok()) return db.status();
  return std::unique_ptr<WalCheckpointer>(new WalCheckpointer(std::move(*db), every));
}

WalCheckpointer::WalCheckpointer(std::unique_ptr<Db> db, std::chrono::milliseconds every)
    : db_(std::move(db)), every_(every), thread_([this] { Run(); }) {}

WalCheckpointer::~WalCheckpointer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void WalCheckpointer::Run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, every_, [this] { return stop_; });
    lock.unlock();
    CheckpointOnce();
    lock.lock();
  }
}

void WalCheckpointer::CheckpointOnce() {
  // One row: busy (1 when a writer or reader kept it from finishing), frames in the WAL, frames
  // checkpointed (both -1 outside WAL mode).
  auto st = db_->Prepare("PRAGMA wal_checkpoint(PASSIVE)");
  if (!st.ok()) {
    spdlog::warn("store: WAL checkpoint: {}", st.status().ToString());
    return;
  }
  auto row = st->Step();
  if (!row.ok() || !*row) {
    if (!row.ok()) spdlog::warn("store: WAL checkpoint: {}", row.status().ToString());
    return;
  }
  backlog_ = std::max<int64_t>(0, st->Int(1) - st->Int(2));
  ++checkpoints_;
}

}  // namespace ennakko
