#include "connectors/registries/batch_reader.h"

#include <fmt/format.h>

#include <fstream>

namespace ennakko {

BatchReader::BatchReader(std::filesystem::path path, BatchKind kind)
    : path_(std::move(path)), kind_(kind), thread_([this] { Run(); }) {}

BatchReader::~BatchReader() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void BatchReader::Run() {
  Status status;
  std::ifstream in(path_, std::ios::binary);
  if (!in)
    status = Status::Unavailable(fmt::format("cannot open batch {}", path_.filename().string()));
  std::string text;
  int64_t line = 0;
  std::vector<ParsedLine> chunk;
  std::vector<std::vector<ParsedLine>> spent;
  auto hand_over = [&]() -> bool {  // false when the consumer asked us to stop
    {
      std::unique_lock lock(mu_);
      changed_.wait(lock, [&] { return stop_ || queue_.size() < kMaxQueuedChunks; });
      if (stop_) return false;
      queue_.push_back(std::move(chunk));
      chunk.clear();
      spent.swap(spent_);
      changed_.notify_all();
    }
    spent.clear();  // frees the consumer's spent chunks here, outside the lock
    chunk.reserve(kLinesPerChunk);
    return true;
  };
  while (status.ok() && std::getline(in, text)) {
    ++line;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    auto record = ParsePopulationRecord(text, kind_);
    chunk.push_back(ParsedLine{line, std::move(text), std::move(record)});
    if (chunk.size() == kLinesPerChunk && !hand_over()) return;
  }
  if (status.ok() && in.bad()) {
    status = Status::Unavailable(fmt::format("error reading batch {}", path_.filename().string()));
  }
  if (status.ok() && !chunk.empty() && !hand_over()) return;
  std::lock_guard lock(mu_);
  status_ = status;
  done_ = true;
  changed_.notify_all();
}

std::vector<ParsedLine> BatchReader::Next() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] { return done_ || !queue_.empty(); });
  if (queue_.empty()) return {};
  std::vector<ParsedLine> chunk = std::move(queue_.front());
  queue_.pop_front();
  changed_.notify_all();
  return chunk;
}

void BatchReader::Recycle(std::vector<ParsedLine> chunk) {
  std::lock_guard lock(mu_);
  if (!done_ && !stop_) spent_.push_back(std::move(chunk));
  // else: the helper thread is finishing; the chunk is freed here.
}

Status BatchReader::status() {
  std::lock_guard lock(mu_);
  return status_;
}

}  // namespace ennakko
