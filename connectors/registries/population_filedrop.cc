#include "connectors/registries/population_filedrop.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "connectors/registries/batch_reader.h"
#include "connectors/registries/population_apply.h"
#include "connectors/registries/population_record.h"
#include "engine/store/population.h"

namespace ennakko {

namespace {

namespace fs = std::filesystem;

struct BatchFile {
  uint64_t number = 0;
  std::string number_text;  // as in the name, e.g. 000003
  std::string name;         // 000003.changes.jsonl
  BatchKind kind = BatchKind::kChanges;
  fs::path path;
};

// "NNNNNN.snapshot.jsonl" / "NNNNNN.changes.jsonl" with six or more digits; nullopt otherwise.
std::optional<BatchFile> ParseBatchName(const std::string& name) {
  auto dot = name.find('.');
  if (dot == std::string::npos || dot < 6 || dot > 18) return std::nullopt;
  std::string_view digits(name.data(), dot);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::string_view rest(name.data() + dot);
  BatchFile b;
  if (rest == ".snapshot.jsonl") {
    b.kind = BatchKind::kSnapshot;
  } else if (rest == ".changes.jsonl") {
    b.kind = BatchKind::kChanges;
  } else {
    return std::nullopt;
  }
  b.number = std::stoull(std::string(digits));
  b.number_text = std::string(digits);
  b.name = name;
  return b;
}

Result<std::vector<BatchFile>> ListBatches(const std::string& directory) {
  std::error_code ec;
  fs::directory_iterator it(directory, ec);
  if (ec) {
    return Status::Unavailable(
        fmt::format("cannot list drop directory {}: {}", directory, ec.message()));
  }
  std::vector<BatchFile> out;
  for (const auto& entry : it) {
    if (!entry.is_regular_file(ec)) continue;
    auto b = ParseBatchName(entry.path().filename().string());
    if (!b) continue;
    b->path = entry.path();
    out.push_back(std::move(*b));
  }
  std::sort(out.begin(), out.end(),
            [](const BatchFile& a, const BatchFile& b) { return a.number < b.number; });
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i].number == out[i - 1].number) {
      return Status::FailedPrecondition(
          fmt::format("drop directory {} has two batches numbered {}: {} and {}", directory,
                      out[i].number_text, out[i - 1].name, out[i].name));
    }
  }
  return out;
}

// Applies `file` and advances the cursor from `expected_cursor` to it, in one transaction.
Result<BatchOutcome> ApplyBatch(Db& db, PopulationStore& store, const BatchFile& file,
                                const std::string& connector, const std::string& expected_cursor,
                                const std::string& fetched_at) {
  const BatchSource source{connector, file.name, file.number_text, fetched_at};
  auto feed = [&](PopulationApplier& applier) -> Status {
    BatchReader reader(file.path, file.kind);
    for (auto chunk = reader.Next(); !chunk.empty(); chunk = reader.Next()) {
      for (ParsedLine& l : chunk) ENNAKKO_RETURN_IF_ERROR(applier.Apply(l.line, l.text, l.record));
      reader.Recycle(std::move(chunk));
    }
    return reader.status();
  };
  auto check = [&]() -> Status {
    auto cursor = store.GetCursor(connector);
    if (!cursor.ok()) return cursor.status();
    if (cursor->value_or("") != expected_cursor) {
      return Status::FailedPrecondition(
          fmt::format("{}: the cursor moved while polling (another poller?)", connector));
    }
    return Status::Ok();
  };
  auto advance = [&] { return store.SetCursor(connector, file.name, fetched_at); };
  return ApplyPopulationBatch(db, store, source, feed, check, advance);
}

// Enlarges the connection's page cache for its lifetime, then restores the previous setting.
class CacheSizeGuard {
 public:
  CacheSizeGuard(Db& db, int mib) : db_(db) {
    if (mib <= 0) return;
    auto q = db.Prepare("PRAGMA cache_size");
    if (!q.ok()) return;
    auto row = q->Step();
    if (!row.ok() || !*row) return;
    previous_ = q->Int(0);
    (void)db.Exec(fmt::format("PRAGMA cache_size = {}", -int64_t{mib} * 1024));
  }
  ~CacheSizeGuard() {
    if (previous_) (void)db_.Exec(fmt::format("PRAGMA cache_size = {}", *previous_));
  }
  CacheSizeGuard(const CacheSizeGuard&) = delete;
  CacheSizeGuard& operator=(const CacheSizeGuard&) = delete;

 private:
  Db& db_;
  std::optional<int64_t> previous_;
};

}  // namespace

FileDropPopulationSource::FileDropPopulationSource(FileDropOptions options, const Clock* clock)
    : options_(std::move(options)), clock_(clock) {
  static const SystemClock kSystemClock;
  if (!clock_) clock_ = &kSystemClock;
}

Result<PollResult> FileDropPopulationSource::Poll(Db& db) {
  const std::string& connector = options_.connector_name;
  auto store = PopulationStore::Open(db);
  if (!store.ok()) return store.status();
  auto cursor = (*store)->GetCursor(connector);
  if (!cursor.ok()) return cursor.status();
  auto batches = ListBatches(options_.directory);
  if (!batches.ok()) return batches.status();

  PollResult result;
  result.cursor = cursor->value_or("");
  std::optional<uint64_t> last;
  if (*cursor) {
    auto b = ParseBatchName(**cursor);
    if (!b) {
      return Status::FailedPrecondition(
          fmt::format("{}: stored cursor is not a batch file name", connector));
    }
    last = b->number;
  }
  std::vector<int64_t> affected;
  CacheSizeGuard cache(db, options_.cache_mib);
  for (const BatchFile& b : *batches) {
    if (last && b.number <= *last) continue;
    const uint64_t expected = last ? *last + 1 : 0;
    if (b.number != expected) {
      spdlog::warn("{}: waiting for batch number {:06d} before {}", connector, expected, b.name);
      break;
    }
    const std::string fetched_at = FormatTimestamp(clock_->Now());
    auto out = ApplyBatch(db, **store, b, connector, result.cursor, fetched_at);
    if (!out.ok()) {
      spdlog::error("{}: batch {} not applied: {}", connector, b.name, out.status().ToString());
      return out.status();
    }
    if (out->unknown_groups > 0) {
      std::string names;
      for (const auto& n : out->unknown_names) names += (names.empty() ? "" : ", ") + n;
      spdlog::warn("{}: {} ignored {} entries of groups we do not handle: {}", connector, b.name,
                   out->unknown_groups, names);
    }
    spdlog::info("{}: applied {}: {} records, {} quarantined, {} residents affected", connector,
                 b.name, out->applied, out->quarantined, out->affected.size());
    ++result.batches_applied;
    result.records_applied += out->applied;
    result.records_quarantined += out->quarantined;
    result.unknown_groups += out->unknown_groups;
    affected.insert(affected.end(), out->affected.begin(), out->affected.end());
    result.cursor = b.name;
    last = b.number;
  }
  std::sort(affected.begin(), affected.end());
  affected.erase(std::unique(affected.begin(), affected.end()), affected.end());
  result.affected_resident_ids = std::move(affected);
  return result;
}

}  // namespace ennakko
