// BatchReader: reads and parses a file-drop batch on a helper thread, handing parsed lines to the
// applying thread in chunks, so that JSON parsing overlaps with the SQLite writes (parsing is
// about a third of a snapshot load).
//
// Invariants: lines come out in file order, each exactly once, with their 1-based line numbers;
// blank lines are dropped; at most kMaxQueuedChunks chunks wait, so memory stays bounded whatever
// the batch size. After Next() returns an empty chunk the reader is done; status() then says
// whether it stopped at the end of the file or on an I/O error.
//
// Thread-safety: one consumer thread calls Next()/status(); the destructor stops and joins the
// helper thread, so a consumer may abandon a batch half-way (an error in the store) safely.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "connectors/registries/population_record.h"
#include "engine/base/status.h"

namespace ennakko {

struct ParsedLine {
  int64_t line = 0;  // 1-based
  std::string text;  // the raw line, kept for the quarantine
  Result<PopulationRecord> record = Status::Invalid("not parsed");
};

class BatchReader {
 public:
  static constexpr size_t kLinesPerChunk = 256;
  static constexpr size_t kMaxQueuedChunks = 16;

  BatchReader(std::filesystem::path path, BatchKind kind);
  ~BatchReader();
  BatchReader(const BatchReader&) = delete;
  BatchReader& operator=(const BatchReader&) = delete;

  // The next chunk of parsed lines; empty when the batch is exhausted (or reading failed).
  std::vector<ParsedLine> Next();
  // Hands a chunk the consumer is done with back to the helper thread, which frees it: the
  // records were allocated there, and freeing them on the consumer's thread contended for the
  // allocator's arena lock with the parsing (glibc malloc; ~5 % of a snapshot load).
  void Recycle(std::vector<ParsedLine> chunk);
  // OK after a complete read; Unavailable if the file could not be opened or read.
  Status status();

 private:
  void Run();

  const std::filesystem::path path_;
  const BatchKind kind_;
  std::mutex mu_;
  std::condition_variable changed_;
  // Protected by mu_.
  std::deque<std::vector<ParsedLine>> queue_;
  std::vector<std::vector<ParsedLine>> spent_;  // Recycle()d, freed by the helper thread
  bool done_ = false;
  bool stop_ = false;
  Status status_;
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace ennakko
