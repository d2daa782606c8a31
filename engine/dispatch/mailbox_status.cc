#include "engine/dispatch/mailbox_status.h"

#include <algorithm>
#include <set>
#include <unordered_map>

namespace ennakko {

MailboxStatusCache::MailboxStatusCache(Db& db, const Clock& clock, MailboxCheckFn check,
                                       MailboxStatusOptions options)
    : db_(db), clock_(clock), check_(std::move(check)), options_([&] {
        if (options.batch == 0 || options.batch > 10000) options.batch = 10000;  // the API's limit
        return options;
      }()) {}

std::string MailboxStatusCache::StaleBefore() const { return FormatTimestamp(clock_.Now() - options_.max_age); }

Result<MailboxRefresh> MailboxStatusCache::Refresh(const std::vector<std::string>& codes) {
  MailboxRefresh out;
  auto st = db_.Prepare(
      "SELECT r.id, m.checked_at FROM residents r LEFT JOIN mailbox_status m ON m.resident_id = r.id "
      "WHERE r.hetu = ?");
  if (!st.ok()) return st.status();
  const std::string stale_before = StaleBefore();
  std::vector<std::string> ask;
  std::unordered_map<std::string, int64_t> ids;
  std::set<std::string> seen;
  for (const std::string& code : codes) {
    if (!seen.insert(code).second) continue;
    st->Reset();
    st->Bind(1, code);
    auto row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) continue;
    auto checked = st->OptText(1);
    if (checked && *checked >= stale_before) continue;  // fresh
    ids[code] = st->Int(0);
    ask.push_back(code);
  }
  // Ends the statement's read transaction: held across the check and into Store's write, a read
  // snapshot that another connection (delivery reports, consents) has since written past cannot
  // become a write, and SQLite answers "database is locked" without waiting.
  st->Reset();
  for (size_t start = 0; start < ask.size(); start += options_.batch) {
    std::vector<std::string> chunk(ask.begin() + static_cast<std::ptrdiff_t>(start),
                                   ask.begin() + static_cast<std::ptrdiff_t>(std::min(ask.size(), start + options_.batch)));
    ++out.calls;
    auto active = check_(chunk);
    if (!active.ok()) return active.status();
    std::set<std::string> yes(active->begin(), active->end());
    std::vector<std::pair<int64_t, bool>> answers;
    answers.reserve(chunk.size());
    for (const std::string& code : chunk) {
      bool is_active = yes.contains(code);
      answers.emplace_back(ids[code], is_active);
      out.active += is_active;
    }
    ENNAKKO_RETURN_IF_ERROR(Store(answers));
    out.asked += static_cast<int>(chunk.size());
  }
  return out;
}

Status MailboxStatusCache::Store(const std::vector<std::pair<int64_t, bool>>& answers) {
  Transaction tx(db_);
  ENNAKKO_RETURN_IF_ERROR(tx.begin_status());
  auto st = db_.Prepare(
      "INSERT INTO mailbox_status (resident_id, active, checked_at) VALUES (?, ?, ?) "
      "ON CONFLICT(resident_id) DO UPDATE SET active = excluded.active, checked_at = excluded.checked_at");
  if (!st.ok()) return st.status();
  const std::string now = FormatTimestamp(clock_.Now());
  for (const auto& [id, active] : answers) {
    st->Reset();
    st->Bind(1, id).Bind(2, active ? 1 : 0).Bind(3, now);
    ENNAKKO_RETURN_IF_ERROR(st->Run());
  }
  return tx.Commit();
}

Result<std::optional<bool>> MailboxStatusCache::Active(const std::string& code) {
  auto st = db_.Prepare(
      "SELECT m.active, m.checked_at FROM mailbox_status m JOIN residents r ON r.id = m.resident_id WHERE r.hetu = ?");
  if (!st.ok()) return st.status();
  st->Bind(1, code);
  auto row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row || st->Text(1) < StaleBefore()) return std::optional<bool>();
  return std::optional<bool>(st->Int(0) != 0);
}

Status MailboxStatusCache::MarkInactive(const std::string& code) {
  auto st = db_.Prepare(
      "INSERT INTO mailbox_status (resident_id, active, checked_at) SELECT id, 0, ? FROM residents WHERE hetu = ? "
      "ON CONFLICT(resident_id) DO UPDATE SET active = 0, checked_at = excluded.checked_at");
  if (!st.ok()) return st.status();
  st->Bind(1, FormatTimestamp(clock_.Now())).Bind(2, code);
  return st->Run();
}

}  // namespace ennakko
