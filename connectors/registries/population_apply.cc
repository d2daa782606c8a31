#include "connectors/registries/population_apply.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

namespace ennakko {

namespace {

void SortUnique(std::vector<int64_t>& ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
}

std::string PairKey(const std::string& subject_hetu, const CustodyChange& c) {
  return c.other_is == CustodyChange::Other::kGuardian ? c.other_hetu + subject_hetu
                                                       : subject_hetu + c.other_hetu;
}

// A change to a guardian re-evaluates their wards: adds the wards of everyone in `affected`. One
// lookup per resident for a small set; one pass over all custody rows when the set is large (a
// snapshot), which is far cheaper than a million lookups.
Status AddWards(PopulationStore& store, std::vector<int64_t>& affected) {
  std::vector<int64_t> wards;
  if (affected.size() > 50'000) {
    auto all = store.AllCustodyPairs();
    if (!all.ok()) return all.status();
    for (const auto& [guardian, ward] : *all) {
      if (std::binary_search(affected.begin(), affected.end(), guardian)) wards.push_back(ward);
    }
  } else {
    for (int64_t id : affected) {
      auto of = store.WardsOf(id);
      if (!of.ok()) return of.status();
      wards.insert(wards.end(), of->begin(), of->end());
    }
  }
  affected.insert(affected.end(), wards.begin(), wards.end());
  SortUnique(affected);
  return Status::Ok();
}

}  // namespace

Provenance PopulationApplier::ProvenanceOf(int64_t line) const {
  std::string change_id = source_.change_tag;  // "000003:17", without fmt: once per record
  change_id += ':';
  change_id += std::to_string(line);
  return Provenance{source_.connector, std::move(change_id), source_.fetched_at};
}

Status PopulationApplier::Quarantine(int64_t line, std::string_view raw, std::string reason) {
  spdlog::warn("{}: {} line {} quarantined: {}", source_.connector, source_.batch, line, reason);
  ++out_.quarantined;
  return store_.Quarantine(QuarantineEntry{source_.connector, source_.batch, line,
                                           std::move(reason), std::string(raw),
                                           source_.fetched_at});
}

Status PopulationApplier::Begin() {
  auto any = store_.HasResidents();
  if (!any.ok()) return any.status();
  codes_complete_ = !*any;
  return Status::Ok();
}

uint64_t PopulationApplier::CodeHash(std::string_view code) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : code) h = (h ^ c) * 1099511628211ull;
  return h == 0 ? 1 : h;  // 0 marks an empty slot
}

void PopulationApplier::NoteApplied(std::string_view code) {
  if (!codes_complete_) return;
  if (2 * (applied_count_ + 1) > applied_codes_.size()) {  // grow: load at most 1/2
    std::vector<uint64_t> old = std::move(applied_codes_);
    applied_codes_.assign(std::max<size_t>(1024, 2 * old.size()), 0);
    applied_count_ = 0;
    for (uint64_t h : old) {
      if (h == 0) continue;
      size_t i = h & (applied_codes_.size() - 1);
      while (applied_codes_[i] != 0) i = (i + 1) & (applied_codes_.size() - 1);
      applied_codes_[i] = h;
      ++applied_count_;
    }
  }
  const uint64_t h = CodeHash(code);
  size_t i = h & (applied_codes_.size() - 1);
  while (applied_codes_[i] != 0) {
    if (applied_codes_[i] == h) return;
    i = (i + 1) & (applied_codes_.size() - 1);
  }
  applied_codes_[i] = h;
  ++applied_count_;
}

bool PopulationApplier::MaybeApplied(std::string_view code) const {
  if (!codes_complete_) return true;
  if (applied_codes_.empty()) return false;
  const uint64_t h = CodeHash(code);
  for (size_t i = h & (applied_codes_.size() - 1); applied_codes_[i] != 0;
       i = (i + 1) & (applied_codes_.size() - 1)) {
    if (applied_codes_[i] == h) return true;
  }
  return false;
}

Status PopulationApplier::WriteGuardiansFacts() {
  return WriteGuardiansFacts(std::numeric_limits<int64_t>::max());
}

Status PopulationApplier::WriteGuardiansFacts(int64_t settled_before) {
  while (!guardians_queue_.empty() && guardians_queue_.front().record < settled_before) {
    const QueuedChange q = guardians_queue_.front();
    guardians_queue_.pop_front();
    auto it = guardians_changed_.find(q.ward);
    if (it == guardians_changed_.end() || it->second.seq != q.seq) continue;  // changed since
    const int64_t line = it->second.line;
    guardians_changed_.erase(it);
    ENNAKKO_RETURN_IF_ERROR(store_.PutGuardiansFact(q.ward, ProvenanceOf(line)));
  }
  return Status::Ok();
}

Status PopulationApplier::Apply(int64_t line, std::string_view raw,
                                Result<PopulationRecord>& record) {
  ++records_;
  if (!guardians_queue_.empty()) {
    ENNAKKO_RETURN_IF_ERROR(WriteGuardiansFacts(records_ - kGuardiansSettle));
  }
  if (auto it = skip_.find(line); it != skip_.end()) return Quarantine(line, raw, it->second);
  if (!record.ok()) return Quarantine(line, raw, record.status().message());
  PopulationRecord* rec = &record.value();
  // The record's provenance, built in a member: source and fetched_at are copied once a batch.
  if (record_provenance_.source.empty()) {
    record_provenance_.source = source_.connector;
    record_provenance_.fetched_at = source_.fetched_at;
  }
  record_provenance_.change_id = source_.change_tag;
  record_provenance_.change_id += ':';
  record_provenance_.change_id += std::to_string(line);
  const Provenance& prov = record_provenance_;
  // A corrected identity code first, so that the rest of the record lands on the person.
  if (!rec->former_codes.empty()) {
    // A merge moves and removes facts and custody: the deferred guardians facts go first.
    ENNAKKO_RETURN_IF_ERROR(WriteGuardiansFacts());
    codes_complete_ = false;  // codes change hands: ask the store from now on
  }
  for (const std::string& former : rec->former_codes) {
    auto corrected = store_.CorrectIdentityCode(former, rec->subject, prov);
    if (!corrected.ok()) return corrected.status();
    out_.affected.insert(out_.affected.end(), corrected->affected.begin(),
                         corrected->affected.end());
    // The merged-away row is gone from the store: reporting it lets the live snapshot drop it.
    if (corrected->merged_id) out_.affected.push_back(*corrected->merged_id);
  }
  auto up = store_.UpsertResident(rec->subject, rec->update, prov);
  if (!up.ok()) return up.status();
  NoteApplied(rec->subject.code);
  const int64_t id = up->id;
  if (up->changed) out_.affected.push_back(id);
  if (rec->postal_address.touched()) {
    auto changed = store_.SetPostalAddress(id, rec->postal_address.value(), prov);
    if (!changed.ok()) return changed.status();
    if (*changed) out_.affected.push_back(id);
  }
  // Custody waiting for this person (named earlier in the batch) goes first, in line order.
  if (!waiting_.empty()) {
    if (auto it = waiting_.find(rec->subject.code); it != waiting_.end()) {
      std::vector<Deferred> list = std::move(it->second);
      waiting_.erase(it);
      for (const Deferred& d : list) {
        ENNAKKO_RETURN_IF_ERROR(ApplyCustody(PairKey(d.subject_hetu, d.change), d.subject_id, id,
                                             d.change, d.change_date, d.line,
                                             ProvenanceOf(d.line)));
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
    Result<std::optional<int64_t>> other = std::optional<int64_t>();
    if (MaybeApplied(c.other_hetu)) other = store_.FindResident(c.other_hetu);
    if (!other.ok()) return other.status();
    if (!*other) {
      waiting_[c.other_hetu].push_back(Deferred{line, id, rec->subject.code, c, rec->change_date});
      continue;
    }
    ENNAKKO_RETURN_IF_ERROR(
        ApplyCustody(std::move(key), id, **other, c, rec->change_date, line, prov));
  }
  // LAPSI: a child we do not know yet is a birth; it exists from now on (its own record, with
  // municipality and guardians, follows in the feed).
  for (const ChildChange& child : rec->children) {
    if (child.change != GroupChange::kSet) continue;
    auto known = store_.FindResident(child.child.code);
    if (!known.ok()) return known.status();
    if (*known) continue;
    auto created = store_.UpsertResident(child.child, ResidentUpdate{}, prov);
    if (!created.ok()) return created.status();
    NoteApplied(child.child.code);
    out_.affected.push_back(created->id);
    out_.affected.push_back(id);
  }
  for (const PlacementChange& p : rec->placements) {
    auto changed = p.change == GroupChange::kRemove
                       ? store_.RemovePlacement(id, p.kind, p.start, prov)
                       : store_.UpsertPlacement(Placement{id, p.kind, p.start, p.end}, prov);
    if (!changed.ok()) return changed.status();
    if (*changed) out_.affected.push_back(id);
  }
  out_.unknown_groups += static_cast<int64_t>(rec->unknown_groups.size());
  out_.unknown_names.insert(rec->unknown_groups.begin(), rec->unknown_groups.end());
  ++out_.applied;
  return Status::Ok();
}

BatchOutcome PopulationApplier::Finish() {
  for (auto& [code, list] : waiting_) {
    for (const Deferred& d : list) {
      out_.unresolved.emplace(d.line, d.change.other_is == CustodyChange::Other::kGuardian
                                          ? "HUOLTAJA_SUPPEA: the guardian is not known, "
                                            "even after the whole batch"
                                          : "HUOLLETTAVA_SUPPEA: the ward is not known, "
                                            "even after the whole batch");
    }
  }
  waiting_.clear();
  SortUnique(out_.affected);
  return std::move(out_);
}

// POISTETTU ends the relation on its end date, or (if still open) on the change date when it
// gives none; with neither (a snapshot line), the relation is removed.
Status PopulationApplier::ApplyCustody(std::string pair_key, int64_t subject_id, int64_t other_id,
                                       const CustodyChange& c, std::optional<Date> change_date,
                                       int64_t line, const Provenance& prov) {
  if (recent_.size() >= kMaxRecentCustody) recent_.clear();
  recent_[std::move(pair_key)] = RecentCustody{c.change, c.start, c.end, change_date};
  const bool other_is_guardian = c.other_is == CustodyChange::Other::kGuardian;
  const int64_t guardian = other_is_guardian ? other_id : subject_id;
  const int64_t ward = other_is_guardian ? subject_id : other_id;
  // The ward's guardians fact is written once for the batch (WriteGuardiansFacts).
  constexpr auto kDeferred = PopulationStore::GuardiansFact::kCallerWrites;
  Result<bool> changed = false;
  if (c.change == GroupChange::kSet) {
    changed = store_.UpsertCustody(Custody{guardian, ward, std::nullopt, c.start, c.end}, prov,
                                   kDeferred);
  } else if (c.end) {
    changed = store_.EndCustody(guardian, ward, *c.end, prov, kDeferred);
  } else if (change_date) {
    // No end date given: end an open relation on the change date, but never move an end date
    // already known (the other direction of the same event may have carried it).
    auto old = store_.GetCustody(guardian, ward);
    if (!old.ok()) return old.status();
    if (*old && !(*old)->end) {
      changed = store_.EndCustody(guardian, ward, *change_date, prov, kDeferred);
    }
  } else {
    changed = store_.RemoveCustody(guardian, ward, prov, kDeferred);
  }
  if (!changed.ok()) return changed.status();
  if (*changed) {
    guardians_changed_[ward] = GuardiansChange{line, ++guardians_seq_};
    guardians_queue_.push_back(QueuedChange{ward, guardians_seq_, records_});
    out_.affected.push_back(guardian);
    out_.affected.push_back(ward);
  }
  return Status::Ok();
}

Result<BatchOutcome> ApplyPopulationBatch(Db& db, PopulationStore& store,
                                          const BatchSource& source,
                                          const std::function<Status(PopulationApplier&)>& feed,
                                          const std::function<Status()>& check,
                                          const std::function<Status()>& advance) {
  std::map<int64_t, std::string> skip;
  for (;;) {
    Transaction tx(db);
    ENNAKKO_RETURN_IF_ERROR(tx.begin_status());
    ENNAKKO_RETURN_IF_ERROR(check());
    // Rows collected in bulk mode and not inserted go with a rollback (declared after tx: runs
    // before it rolls back).
    struct EndBulkOnExit {
      PopulationStore& store;
      ~EndBulkOnExit() { store.AbandonBulk(); }
    } bulk_guard{store};
    ENNAKKO_RETURN_IF_ERROR(store.BeginBulk());
    PopulationApplier applier(store, source, skip);
    ENNAKKO_RETURN_IF_ERROR(applier.Begin());
    ENNAKKO_RETURN_IF_ERROR(feed(applier));
    ENNAKKO_RETURN_IF_ERROR(applier.WriteGuardiansFacts());
    ENNAKKO_RETURN_IF_ERROR(store.EndBulk());
    BatchOutcome out = applier.Finish();
    if (!out.unresolved.empty()) {
      // Roll back (tx goes out of scope) and apply again without those lines.
      skip.merge(out.unresolved);
      continue;
    }
    ENNAKKO_RETURN_IF_ERROR(AddWards(store, out.affected));
    ENNAKKO_RETURN_IF_ERROR(advance());
    ENNAKKO_RETURN_IF_ERROR(tx.Commit());
    return out;
  }
}

}  // namespace ennakko
