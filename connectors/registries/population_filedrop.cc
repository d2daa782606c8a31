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

struct BatchOutcome {
  int64_t applied = 0;
  int64_t quarantined = 0;
  int64_t unknown_groups = 0;
  std::set<std::string> unknown_names;
  std::unordered_set<int64_t> affected;
  // Lines whose custody names nobody, even after the whole batch: line -> reason. When not
  // empty, the batch must be rolled back and re-applied with these lines quarantined.
  std::map<int64_t, std::string> unresolved;
};

// Applies one batch file inside the caller's transaction.
class BatchApplier {
 public:
  BatchApplier(PopulationStore& store, const BatchFile& file, const std::string& connector,
               const std::string& fetched_at, const std::map<int64_t, std::string>& skip)
      : store_(store), file_(file), connector_(connector), fetched_at_(fetched_at), skip_(skip) {}

  Result<BatchOutcome> Run() {
    BatchReader reader(file_.path, file_.kind);
    for (auto chunk = reader.Next(); !chunk.empty(); chunk = reader.Next()) {
      for (ParsedLine& l : chunk) ENNAKKO_RETURN_IF_ERROR(ApplyLine(l));
    }
    ENNAKKO_RETURN_IF_ERROR(reader.status());
    for (auto& [code, list] : waiting_) {
      for (const Deferred& d : list) {
        out_.unresolved.emplace(d.line, d.change.other_is == CustodyChange::Other::kGuardian
                                            ? "HUOLTAJA_SUPPEA: the guardian is not known, "
                                              "even after the whole batch"
                                            : "HUOLLETTAVA_SUPPEA: the ward is not known, "
                                              "even after the whole batch");
      }
    }
    return std::move(out_);
  }

 private:
  struct Deferred {
    int64_t line;
    int64_t subject_id;
    std::string subject_hetu;
    CustodyChange change;
    std::optional<Date> change_date;
  };
  // The last custody change applied to a (guardian, ward) pair in this batch. VTJ states each
  // relation twice (HUOLTAJA_SUPPEA on the ward, HUOLLETTAVA_SUPPEA on the guardian), usually a
  // few lines apart; the second statement of an identical change is a no-op and skips the store.
  struct RecentCustody {
    GroupChange change;
    std::optional<Date> start, end, change_date;
    friend bool operator==(const RecentCustody&, const RecentCustody&) = default;
  };
  static constexpr size_t kMaxRecentCustody = 4096;

  static std::string PairKey(const std::string& subject_hetu, const CustodyChange& c) {
    return c.other_is == CustodyChange::Other::kGuardian ? c.other_hetu + subject_hetu
                                                         : subject_hetu + c.other_hetu;
  }

  Provenance ProvenanceOf(int64_t line) const {
    return Provenance{connector_, fmt::format("{}:{}", file_.number_text, line), fetched_at_};
  }

  Status Quarantine(int64_t line, const std::string& text, std::string reason) {
    spdlog::warn("{}: {} line {} quarantined: {}", connector_, file_.name, line, reason);
    ++out_.quarantined;
    return store_.Quarantine(
        QuarantineEntry{connector_, file_.name, line, std::move(reason), text, fetched_at_});
  }

  Status ApplyLine(ParsedLine& l) {
    const int64_t line = l.line;
    if (auto it = skip_.find(line); it != skip_.end()) return Quarantine(line, l.text, it->second);
    if (!l.record.ok()) return Quarantine(line, l.text, l.record.status().message());
    PopulationRecord* rec = &l.record.value();
    Provenance prov = ProvenanceOf(line);
    auto up = store_.UpsertResident(rec->subject, rec->update, prov);
    if (!up.ok()) return up.status();
    const int64_t id = up->id;
    if (up->changed) out_.affected.insert(id);
    // Custody waiting for this person (named earlier in the batch) goes first, in line order.
    if (!waiting_.empty()) {
      if (auto it = waiting_.find(rec->subject.code); it != waiting_.end()) {
        std::vector<Deferred> list = std::move(it->second);
        waiting_.erase(it);
        for (const Deferred& d : list) {
          ENNAKKO_RETURN_IF_ERROR(ApplyCustody(PairKey(d.subject_hetu, d.change), d.subject_id, id,
                                               d.change, d.change_date, ProvenanceOf(d.line)));
        }
      }
    }
    for (const CustodyChange& c : rec->custody) {
      std::string key = PairKey(rec->subject.code, c);
      if (auto it = recent_.find(key);
          it != recent_.end() &&
          it->second == RecentCustody{c.change, c.start, c.end, rec->change_date}) {
        continue;
      }
      auto other = store_.FindResident(c.other_hetu);
      if (!other.ok()) return other.status();
      if (!*other) {
        waiting_[c.other_hetu].push_back(
            Deferred{line, id, rec->subject.code, c, rec->change_date});
        continue;
      }
      ENNAKKO_RETURN_IF_ERROR(ApplyCustody(std::move(key), id, **other, c, rec->change_date, prov));
    }
    for (const PlacementChange& p : rec->placements) {
      auto changed = p.change == GroupChange::kRemove
                         ? store_.RemovePlacement(id, p.kind, p.start, prov)
                         : store_.UpsertPlacement(Placement{id, p.kind, p.start, p.end}, prov);
      if (!changed.ok()) return changed.status();
      if (*changed) out_.affected.insert(id);
    }
    out_.unknown_groups += static_cast<int64_t>(rec->unknown_groups.size());
    out_.unknown_names.insert(rec->unknown_groups.begin(), rec->unknown_groups.end());
    ++out_.applied;
    return Status::Ok();
  }

  // POISTETTU ends the relation on its end date, or (if still open) on the change date when it
  // gives none; with neither (a snapshot line), the relation is removed.
  Status ApplyCustody(std::string pair_key, int64_t subject_id, int64_t other_id,
                      const CustodyChange& c, std::optional<Date> change_date,
                      const Provenance& prov) {
    if (recent_.size() >= kMaxRecentCustody) recent_.clear();
    recent_[std::move(pair_key)] = RecentCustody{c.change, c.start, c.end, change_date};
    const bool other_is_guardian = c.other_is == CustodyChange::Other::kGuardian;
    const int64_t guardian = other_is_guardian ? other_id : subject_id;
    const int64_t ward = other_is_guardian ? subject_id : other_id;
    Result<bool> changed = false;
    if (c.change == GroupChange::kSet) {
      changed = store_.UpsertCustody(Custody{guardian, ward, std::nullopt, c.start, c.end}, prov);
    } else if (c.end) {
      changed = store_.EndCustody(guardian, ward, *c.end, prov);
    } else if (change_date) {
      // No end date given: end an open relation on the change date, but never move an end date
      // already known (the other direction of the same event may have carried it).
      auto old = store_.GetCustody(guardian, ward);
      if (!old.ok()) return old.status();
      if (*old && !(*old)->end) changed = store_.EndCustody(guardian, ward, *change_date, prov);
    } else {
      changed = store_.RemoveCustody(guardian, ward, prov);
    }
    if (!changed.ok()) return changed.status();
    if (*changed) {
      out_.affected.insert(guardian);
      out_.affected.insert(ward);
    }
    return Status::Ok();
  }

  PopulationStore& store_;
  const BatchFile& file_;
  const std::string& connector_;
  const std::string& fetched_at_;
  const std::map<int64_t, std::string>& skip_;
  std::unordered_map<std::string, std::vector<Deferred>> waiting_;  // by the missing person's code
  std::unordered_map<std::string, RecentCustody> recent_;           // by guardian code + ward code
  BatchOutcome out_;
};

// Applies `file` and advances the cursor from `expected_cursor` to it, in one transaction.
Result<BatchOutcome> ApplyBatch(Db& db, PopulationStore& store, const BatchFile& file,
                                const std::string& connector, const std::string& expected_cursor,
                                const std::string& fetched_at) {
  std::map<int64_t, std::string> skip;
  for (;;) {
    Transaction tx(db);
    ENNAKKO_RETURN_IF_ERROR(tx.begin_status());
    auto cursor = store.GetCursor(connector);
    if (!cursor.ok()) return cursor.status();
    if (cursor->value_or("") != expected_cursor) {
      return Status::FailedPrecondition(
          fmt::format("{}: the cursor moved while polling (another poller?)", connector));
    }
    BatchApplier applier(store, file, connector, fetched_at, skip);
    auto out = applier.Run();
    if (!out.ok()) return out.status();
    if (!out->unresolved.empty()) {
      // Roll back (tx goes out of scope) and apply again without those lines.
      skip.merge(out->unresolved);
      continue;
    }
    std::vector<int64_t> changed(out->affected.begin(), out->affected.end());
    for (int64_t id : changed) {
      auto wards = store.WardsOf(id);
      if (!wards.ok()) return wards.status();
      out->affected.insert(wards->begin(), wards->end());
    }
    ENNAKKO_RETURN_IF_ERROR(store.SetCursor(connector, file.name, fetched_at));
    ENNAKKO_RETURN_IF_ERROR(tx.Commit());
    return out;
  }
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
  std::unordered_set<int64_t> affected;
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
    affected.merge(out->affected);
    result.cursor = b.name;
    last = b.number;
  }
  result.affected_resident_ids.assign(affected.begin(), affected.end());
  std::sort(result.affected_resident_ids.begin(), result.affected_resident_ids.end());
  return result;
}

}  // namespace ennakko
