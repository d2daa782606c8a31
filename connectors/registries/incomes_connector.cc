#include "connectors/registries/incomes_connector.h"

#include <spdlog/spdlog.h>

#include <openssl/evp.h>

#include <algorithm>


#include <fmt/format.h>

#include "connectors/http/http_client.h"
#include "connectors/registries/incomes_register_xml.h"
#include "engine/store/incomes.h"
#include "engine/store/population.h"

namespace ennakko {

namespace {

constexpr const char* kConnector = "incomes";

std::string BasicAuthorization(const std::string& user, const std::string& password) {
  std::string plain = user + ":" + password;
  std::string out(4 * ((plain.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(plain.data()), static_cast<int>(plain.size()));
  out.resize(static_cast<size_t>(n));
  return "Basic " + out;
}

// Retry-After in seconds (the HTTP-date form is not used by the services we call).
std::optional<std::chrono::milliseconds> RetryAfter(const HttpClientResult& r) {
  auto it = r.headers.find("retry-after");
  if (it == r.headers.end()) return std::nullopt;
  try {
    long long s = std::stoll(it->second);
    if (s < 0 || s > 24 * 3600) return std::nullopt;
    return std::chrono::milliseconds(s * 1000);
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace

namespace {
// Whether one resident still has a legal basis: the same conditions as ResidentsWithIncomeBasis.
Result<bool> HasIncomeBasis(Db& db, std::string_view purpose, Date today, std::string_view now,
                            int64_t resident_id) {
  auto st = db.Prepare(R"sql(
SELECT EXISTS (SELECT 1 FROM consents c JOIN residents r ON r.id = c.resident_id
 WHERE r.id = ?4 AND c.purpose = ?1 AND c.granted_at <= ?3 AND c.revoked_at IS NULL
   AND (c.expires_at IS NULL OR c.expires_at > ?3) AND r.death_date IS NULL)
OR EXISTS (SELECT 1 FROM custody k
  JOIN residents g ON g.id = k.guardian_id AND g.death_date IS NULL
  JOIN residents w ON w.id = k.ward_id AND w.death_date IS NULL
  JOIN placements p ON p.resident_id = k.ward_id AND p.kind = 'ecec'
 WHERE g.id = ?4 AND (k.start_date IS NULL OR k.start_date <= ?2)
   AND (k.end_date IS NULL OR k.end_date >= ?2) AND (p.end_date IS NULL OR p.end_date >= ?2)))sql");
  if (!st.ok()) return st.status();
  st->Bind(1, purpose).Bind(2, today.ToString()).Bind(3, now).Bind(4, resident_id);
  auto row = st->Step();
  if (!row.ok()) return row.status();
  return *row && st->Int(0) != 0;
}
}  // namespace

Result<std::vector<IncomeBasis>> ResidentsWithIncomeBasis(Db& db, std::string_view purpose, Date today,
                                                          std::string_view now) {
  // A pending fee decision: guardian in custody today of a living child whose ECEC placement has
  // not ended. A consent: granted by now, not revoked, not expired.
  auto st = db.Prepare(R"sql(
SELECT r.id, r.hetu, 'consent' FROM consents c JOIN residents r ON r.id = c.resident_id
 WHERE c.purpose = ?1 AND c.granted_at <= ?3 AND c.revoked_at IS NULL
   AND (c.expires_at IS NULL OR c.expires_at > ?3) AND r.death_date IS NULL
UNION
SELECT g.id, g.hetu, 'pending-fee-decision' FROM custody k
  JOIN residents g ON g.id = k.guardian_id AND g.death_date IS NULL
  JOIN residents w ON w.id = k.ward_id AND w.death_date IS NULL
  JOIN placements p ON p.resident_id = k.ward_id AND p.kind = 'ecec'
 WHERE (k.start_date IS NULL OR k.start_date <= ?2) AND (k.end_date IS NULL OR k.end_date >= ?2)
   AND (p.end_date IS NULL OR p.end_date >= ?2)
ORDER BY 1, 3)sql");
  if (!st.ok()) return st.status();
  st->Bind(1, purpose).Bind(2, today.ToString()).Bind(3, now);
  std::vector<IncomeBasis> out;
  for (;;) {
    auto row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    int64_t id = st->Int(0);
    if (!out.empty() && out.back().resident_id == id) continue;  // consent listed first
    out.push_back({id, st->Text(1), st->Text(2)});
  }
  return out;
}

IncomesConnector::IncomesConnector(IncomesConnectorOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock) {
  authorization_ = BasicAuthorization(options_.username, options_.password);
}

Result<std::string> IncomesConnector::Query(const std::string& hetu, const std::string& start,
                                            const std::string& end) {
  std::string body = WriteIncomesQuery({hetu, options_.purpose, start, end});
  auto r = HttpCall("POST", options_.base_url + kVocabulary.query_path, body,
                    {{"Content-Type", "application/xml; charset=utf-8"}, {"Authorization", authorization_}},
                    options_.timeout);
  if (!r.ok()) return r.status();  // Unavailable: connect, reset, timeout, truncated body
  if (r->status == 200) return std::move(r->body);
  if (r->status == 429) {
    retry_after_ = RetryAfter(*r);
    return Status::ResourceExhausted(
        fmt::format("the Incomes Register asked to slow down (429, Retry-After {})",
                    retry_after_ ? std::to_string(retry_after_->count() / 1000) + " s" : "not given"));
  }
  if (r->status >= 500) return Status::Unavailable(fmt::format("the Incomes Register answered {}", r->status));
  if (r->status == 401 || r->status == 403) {
    return Status::FailedPrecondition(fmt::format(
        "the Incomes Register refused the query ({}): check the credentials and that the data permit covers "
        "purpose '{}'",
        r->status, options_.purpose));
  }
  return Status::Permanent(fmt::format("the Incomes Register answered {} to a query", r->status));
}

Result<ConnectorPollReport> IncomesConnector::Poll(Db& db) {
  retry_after_.reset();
  ConnectorPollReport report;
  const auto now = clock_.Now();
  const std::string window_end = FormatTimestamp(now);
  const std::string first_start = FormatTimestamp(now - options_.window);
  auto people = PopulationStore::Open(db);
  if (!people.ok()) return people.status();
  auto incomes = IncomeStore::Open(db);
  if (!incomes.ok()) return incomes.status();
  auto with_basis = ResidentsWithIncomeBasis(db, options_.purpose, clock_.Today(), window_end);
  if (!with_basis.ok()) return with_basis.status();
  std::set<int64_t>& changed = pending_changed_;

  // The basis ended: what we hold about their income goes.
  {
    auto fetched = (*incomes)->FetchedResidents();
    if (!fetched.ok()) return fetched.status();
    std::set<int64_t> allowed;
    for (const auto& b : *with_basis) allowed.insert(b.resident_id);
    Transaction tx(db);
    ENNAKKO_RETURN_IF_ERROR(tx.begin_status());
    for (int64_t id : *fetched) {
      if (allowed.count(id)) continue;
      auto forgot = (*incomes)->Forget(id);
      if (!forgot.ok()) return forgot.status();
      changed.insert(id);
    }
    ENNAKKO_RETURN_IF_ERROR(tx.Commit());
  }

  // Due: never asked, or last asked at least half the poll interval ago. The longest-unasked
  // first (never asked: ""), so that a capped poll starves nobody.
  const std::string due_before = FormatTimestamp(now - options_.poll_every / 2);
  std::vector<std::pair<std::string, const IncomeBasis*>> due;
  for (const IncomeBasis& who : *with_basis) {
    auto through = (*incomes)->FetchedThrough(who.resident_id);
    if (!through.ok()) return through.status();
    if (through->value_or("") <= due_before) due.emplace_back(through->value_or(""), &who);
  }
  std::stable_sort(due.begin(), due.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  if (due.size() > options_.max_earners_per_poll) {
    due.resize(options_.max_earners_per_poll);
    report.caught_up = false;
  }

  Status failure;
  for (const auto& [last, who_ptr] : due) {
    const IncomeBasis& who = *who_ptr;
    std::optional<std::string> through;
    if (!last.empty()) through = last;
    std::string start = through.value_or(first_start);
    // The basis may have ended since the poll began (a consent revoked through the API while
    // earlier queries ran): permission is checked again right before asking.
    auto still = HasIncomeBasis(db, options_.purpose, clock_.Today(), FormatTimestamp(clock_.Now()),
                                who.resident_id);
    if (!still.ok()) return still.status();
    if (!*still) continue;
    auto body = Query(who.hetu, start, window_end);
    if (!body.ok() && body.status().code() == StatusCode::kPermanent) {
      // This resident's query is refused (e.g. HTTP 400): the others must not wait behind them.
      spdlog::warn("incomes: resident {} skipped this poll: {}", who.resident_id, body.status().message());
      ++report.records_quarantined;
      continue;
    }
    if (!body.ok()) {
      failure = body.status();
      break;
    }
    auto parsed = ParseIncomesAnswer(*body);
    if (!parsed.ok()) {
      failure = parsed.status();
      break;
    }
    // One resident's answer and their window advance commit together.
    Transaction tx(db);
    ENNAKKO_RETURN_IF_ERROR(tx.begin_status());
    const std::string batch = fmt::format("{}/resident-{}", window_end, who.resident_id);
    int64_t line = 0;
    bool any_change = !through.has_value();  // a first fetch makes the incomes held
    for (auto& p : *parsed) {
      ++line;
      std::string reason = p.error;
      if (reason.empty() && p.income_earner_id != who.hetu) reason = "the report is about another income earner";
      if (!reason.empty()) {
        ENNAKKO_RETURN_IF_ERROR((*people)->Quarantine({kConnector, batch, line, reason, p.raw, window_end}));
        ++report.records_quarantined;
        continue;
      }
      IncomeReport r = std::move(*p.report);
      r.earner_id = who.resident_id;
      Provenance prov{kConnector, fmt::format("{}:v{}", r.report_id, r.version), window_end};
      auto applied = (*incomes)->Apply(r, prov);
      // Only a report that is wrong goes to quarantine; a store error rolls the resident back.
      if (!applied.ok() && applied.status().code() != StatusCode::kInvalidArgument) return applied.status();
      if (!applied.ok()) {
        ENNAKKO_RETURN_IF_ERROR(
            (*people)->Quarantine({kConnector, batch, line, applied.status().message(), p.raw, window_end}));
        ++report.records_quarantined;
        continue;
      }
      if (*applied != ApplyOutcome::kIgnored) {
        ++report.records_applied;
        any_change = true;
      }
    }
    ENNAKKO_RETURN_IF_ERROR((*incomes)->MarkFetched(who.resident_id, options_.purpose, window_end, window_end));
    ENNAKKO_RETURN_IF_ERROR(tx.Commit());
    ++report.batches_applied;
    if (any_change) changed.insert(who.resident_id);
  }
  // What was applied stays applied; its residents are reported by the next successful poll. The
  // message names no resident.
  if (!failure.ok()) return failure;
  if (report.caught_up) {
    Transaction tx(db);
    ENNAKKO_RETURN_IF_ERROR(tx.begin_status());
    ENNAKKO_RETURN_IF_ERROR((*people)->SetCursor(kConnector, window_end, window_end));
    ENNAKKO_RETURN_IF_ERROR(tx.Commit());
  }
  report.cursor = window_end;
  report.changed_residents.assign(changed.begin(), changed.end());
  changed.clear();
  return report;
}

}  // namespace ennakko
