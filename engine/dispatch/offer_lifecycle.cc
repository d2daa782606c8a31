#include "engine/dispatch/offer_lifecycle.h"

#include <array>
#include <utility>

#include <fmt/format.h>

#include "engine/base/crypto.h"

namespace ennakko {

namespace {

constexpr std::array<std::pair<OfferState, std::string_view>, 10> kStateNames = {{
    {OfferState::kQueued, "queued"},
    {OfferState::kSending, "sending"},
    {OfferState::kSent, "sent"},
    {OfferState::kDelivered, "delivered"},
    {OfferState::kReminded, "reminded"},
    {OfferState::kReplied, "replied"},
    {OfferState::kExpired, "expired"},
    {OfferState::kFailed, "failed"},
    {OfferState::kInDoubt, "in_doubt"},
    {OfferState::kCancelled, "cancelled"},
}};

// "2026-11-22T08:00:00.123Z" (FormatTimestamp) back to a time point.
std::optional<std::chrono::system_clock::time_point> ParseTimestamp(std::string_view t) {
  if (t.size() < 20 || t[10] != 'T') return std::nullopt;
  auto date = Date::Parse(t.substr(0, 10));
  if (!date) return std::nullopt;
  auto num = [&](size_t pos, size_t len) {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (t[i] < '0' || t[i] > '9') return -1;
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  int h = num(11, 2), m = num(14, 2), s = num(17, 2);
  int ms = t.size() >= 23 && t[19] == '.' ? num(20, 3) : 0;
  if (h < 0 || m < 0 || s < 0 || ms < 0) return std::nullopt;
  return std::chrono::system_clock::time_point(std::chrono::sys_days(std::chrono::days(date->days))) +
         std::chrono::hours(h) + std::chrono::minutes(m) + std::chrono::seconds(s) +
         std::chrono::milliseconds(ms);
}

bool OpenToAnswer(OfferState s) {
  return s == OfferState::kSent || s == OfferState::kDelivered || s == OfferState::kReminded ||
         s == OfferState::kInDoubt;
}

}  // namespace

std::string_view StateName(OfferState state) {
  for (const auto& [s, name] : kStateNames) {
    if (s == state) return name;
  }
  return "unknown";
}

std::optional<OfferState> ParseOfferState(std::string_view name) {
  for (const auto& [s, n] : kStateNames) {
    if (n == name) return s;
  }
  return std::nullopt;
}

std::string_view EventName(OfferEvent event) {
  switch (event) {
    case OfferEvent::kDelivered: return "record a delivery for";
    case OfferEvent::kNotDelivered: return "record a failed delivery for";
    case OfferEvent::kRemind: return "remind about";
    case OfferEvent::kAccept: return "accept";
    case OfferEvent::kDecline: return "decline";
    case OfferEvent::kExpire: return "expire";
  }
  return "?";
}

Result<OfferState> NextState(OfferState from, OfferEvent event) {
  using S = OfferState;
  auto refuse = [&] {
    return Status::FailedPrecondition(
        fmt::format("cannot {} an offer that is {}", EventName(event), StateName(from)));
  };
  switch (event) {
    case OfferEvent::kDelivered:
      if (from == S::kSent || from == S::kInDoubt) return S::kDelivered;
      // Kannel reports within milliseconds, often before the dispatcher has recorded the send:
      // keep the report on the row; Outbox::MarkSent then lands on delivered (or failed).
      if (from == S::kSending) return from;
      // A late report: the offer moved on; only the delivery time is recorded.
      if (from == S::kDelivered || from == S::kReminded || from == S::kReplied || from == S::kExpired) return from;
      return refuse();
    case OfferEvent::kNotDelivered:
      if (from == S::kSent || from == S::kDelivered || from == S::kReminded || from == S::kInDoubt) return S::kFailed;
      if (from == S::kFailed || from == S::kSending) return from;  // repeated, or early (above)
      return refuse();
    case OfferEvent::kRemind:
      if (from == S::kSent || from == S::kDelivered || from == S::kReminded) return S::kReminded;
      return refuse();
    case OfferEvent::kAccept:
    case OfferEvent::kDecline:
      if (OpenToAnswer(from)) return S::kReplied;
      return refuse();
    case OfferEvent::kExpire:
      if (from == S::kSent || from == S::kDelivered || from == S::kReminded) return S::kExpired;
      return refuse();
  }
  return refuse();
}

Result<OfferRecord> OfferLifecycle::Load(int64_t id) {
  auto st = db_.Prepare(
      "SELECT o.id, o.kind, o.reply_to, o.idem_key, o.service, o.period, o.language, o.channel, o.state, "
      "o.sent_at, o.delivered_at, o.outcome, o.replied_at, o.reminders, r.hetu, s.first_names "
      "FROM outbox o JOIN residents r ON r.id = o.recipient_id JOIN residents s ON s.id = o.subject_id "
      "WHERE o.id = ?");
  if (!st.ok()) return st.status();
  st->Bind(1, id);
  auto row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound(fmt::format("no outbox row {}", id));
  OfferRecord r;
  r.id = st->Int(0);
  r.kind = st->Text(1);
  r.reply_to = st->OptInt(2).value_or(0);
  r.idem_key = st->Text(3);
  r.service = st->Text(4);
  r.period = st->Text(5);
  r.language = st->Text(6);
  r.channel = st->Text(7);
  auto state = ParseOfferState(st->Text(8));
  if (!state) return Status::Internal(fmt::format("outbox row {} has an unknown state", id));
  r.state = *state;
  r.sent_at = st->Text(9);
  r.delivered_at = st->Text(10);
  r.outcome = st->Text(11);
  r.replied_at = st->Text(12);
  r.reminders = static_cast<int>(st->Int(13));
  r.recipient_code = st->Text(14);
  std::string first = st->Text(15);
  r.subject_first_name = first.substr(0, first.find(' '));
  return r;
}

Result<OfferState> OfferLifecycle::Transition(int64_t id, OfferEvent event, const std::string& set_sql,
                                              const std::function<void(Stmt&, int)>& bind,
                                              OfferRecord* before) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto rec = Load(id);
    if (!rec.ok()) return rec.status();
    auto next = NextState(rec->state, event);
    if (!next.ok()) return next.status();
    auto st = db_.Prepare("UPDATE outbox SET state = ?1, updated_at = ?2" + set_sql +
                          " WHERE id = ?3 AND state = ?4");
    if (!st.ok()) return st.status();
    st->Bind(1, StateName(*next)).Bind(2, FormatTimestamp(clock_.Now())).Bind(3, id).Bind(4, StateName(rec->state));
    if (bind) bind(*st, 5);
    ENNAKKO_RETURN_IF_ERROR(st->Run());
    if (db_.Changes() == 1) {
      if (before) *before = std::move(*rec);
      return *next;
    }
    // Another connection moved the row between our read and our write: read it again.
  }
  return Status::Unavailable(fmt::format("outbox row {} kept changing; try again", id));
}

Result<OfferState> OfferLifecycle::RecordDelivery(int64_t id, const DeliveryReport& report) {
  Transaction tx(db_);
  ENNAKKO_RETURN_IF_ERROR(tx.begin_status());
  const std::string now = FormatTimestamp(clock_.Now());
  OfferRecord before;
  Result<OfferState> after = Status::Internal("unset");
  if (report.delivered) {
    after = Transition(id, OfferEvent::kDelivered,
                       ", delivered_at = COALESCE(delivered_at, ?5), delivery = COALESCE(delivery, ?6)",
                       [&](Stmt& s, int i) { s.Bind(i, now).Bind(i + 1, report.how); }, &before);
  } else {
    after = Transition(id, OfferEvent::kNotDelivered, ", last_error = ?5, closed_at = COALESCE(closed_at, ?6)",
                       [&](Stmt& s, int i) { s.Bind(i, report.reason).Bind(i + 1, now); }, &before);
  }
  if (!after.ok()) return after.status();
  auto ins = db_.Prepare(
      "INSERT INTO deliveries (outbox_id, attempt, channel, status, detail, gateway_ref, at) "
      "SELECT id, attempts, COALESCE(channel, ?2), ?3, ?4, NULL, ?5 FROM outbox WHERE id = ?1");
  if (!ins.ok()) return ins.status();
  ins->Bind(1, id).Bind(2, report.source).Bind(3, report.delivered ? "delivered" : "not_delivered");
  ins->Bind(4, report.delivered ? report.how + " (" + report.source + ")" : report.reason + " (" + report.source + ")");
  ins->Bind(5, now);
  ENNAKKO_RETURN_IF_ERROR(ins->Run());
  ENNAKKO_RETURN_IF_ERROR(tx.Commit());
  if (report.delivered && before.delivered_at.empty()) {
    audit_("offer.delivered", {{"offer", id}, {"kind", before.kind}, {"how", report.how}, {"source", report.source}});
  } else if (!report.delivered && before.state != OfferState::kFailed) {
    audit_("offer.undelivered", {{"offer", id}, {"kind", before.kind}, {"reason", report.reason}, {"source", report.source}});
  }
  return after;
}

Status OfferLifecycle::RecordReply(std::optional<int64_t> offer_id, std::string_view via, std::string_view meaning) {
  auto st = db_.Prepare("INSERT INTO replies (outbox_id, via, meaning, received_at) VALUES (?, ?, ?, ?)");
  if (!st.ok()) return st.status();
  st->Bind(1, offer_id).Bind(2, via).Bind(3, meaning).Bind(4, FormatTimestamp(clock_.Now()));
  return st->Run();
}

Result<OfferState> OfferLifecycle::RecordAnswer(int64_t offer_id, bool accepted, std::string_view via) {
  auto rec = Load(offer_id);
  if (!rec.ok()) return rec.status();
  if (rec->kind == "reminder" && rec->reply_to != 0) offer_id = rec->reply_to;  // answers go to the offer
  const std::string outcome = accepted ? "accepted" : "declined";
  Transaction tx(db_);
  ENNAKKO_RETURN_IF_ERROR(tx.begin_status());
  OfferRecord before;
  auto after = Transition(offer_id, accepted ? OfferEvent::kAccept : OfferEvent::kDecline,
                          ", outcome = ?5, replied_at = ?2, reply_via = ?6",
                          [&](Stmt& s, int i) { s.Bind(i, outcome).Bind(i + 1, via); }, &before);
  if (!after.ok()) return after.status();
  ENNAKKO_RETURN_IF_ERROR(RecordReply(offer_id, via, outcome));
  // A reminder not sent yet has nothing left to remind about.
  auto cancel = db_.Prepare(
      "UPDATE outbox SET state = 'cancelled', last_error = 'the offer was answered', updated_at = ? "
      "WHERE reply_to = ? AND state = 'queued'");
  if (!cancel.ok()) return cancel.status();
  cancel->Bind(1, FormatTimestamp(clock_.Now())).Bind(2, offer_id);
  ENNAKKO_RETURN_IF_ERROR(cancel->Run());
  ENNAKKO_RETURN_IF_ERROR(tx.Commit());
  audit_("offer.replied", {{"offer", offer_id}, {"service", before.service}, {"recipient", pseudonym_(before.recipient_code)},
                           {"outcome", outcome}, {"via", via}});
  return after;
}

Result<std::vector<OfferRecord>> OfferLifecycle::OpenOffersForPhone(std::string_view phone) {
  auto st = db_.Prepare(
      "SELECT o.id FROM outbox o JOIN residents r ON r.id = o.recipient_id "
      "WHERE r.phone = ? AND o.kind = 'offer' AND o.state IN ('sent', 'delivered', 'reminded', 'in_doubt') "
      "ORDER BY o.id");
  if (!st.ok()) return st.status();
  st->Bind(1, phone);
  std::vector<int64_t> ids;
  for (;;) {
    auto row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    ids.push_back(st->Int(0));
  }
  std::vector<OfferRecord> out;
  for (int64_t id : ids) {
    auto rec = Load(id);
    if (!rec.ok()) return rec.status();
    out.push_back(std::move(*rec));
  }
  return out;
}

Result<std::string> OfferLifecycle::LanguageForPhone(std::string_view phone) {
  auto st = db_.Prepare("SELECT language FROM residents WHERE phone = ? ORDER BY id LIMIT 1");
  if (!st.ok()) return st.status();
  st->Bind(1, phone);
  auto row = st->Step();
  if (!row.ok()) return row.status();
  return *row ? st->Text(0) : std::string();
}

Result<LifecycleStats> OfferLifecycle::RemindAndExpire(const RuleLookupFn& rule_for, std::chrono::seconds day) {
  struct Open {
    int64_t id;
    std::string service, basis;
    int reminders;
  };
  std::vector<Open> open;
  {
    auto st = db_.Prepare(
        "SELECT id, service, COALESCE(delivered_at, sent_at), reminders FROM outbox "
        "WHERE kind = 'offer' AND state IN ('sent', 'delivered', 'reminded') AND sent_at IS NOT NULL ORDER BY id");
    if (!st.ok()) return st.status();
    for (;;) {
      auto row = st->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      open.push_back({st->Int(0), st->Text(1), st->Text(2), static_cast<int>(st->Int(3))});
    }
  }
  LifecycleStats stats;
  const auto now = clock_.Now();
  for (const Open& o : open) {
    const RuleSpec* rule = rule_for(o.service);
    if (!rule) continue;
    auto basis = ParseTimestamp(o.basis);
    if (!basis) continue;
    if (rule->reply_within_days > 0 && now >= *basis + rule->reply_within_days * day) {
      Transaction tx(db_);
      ENNAKKO_RETURN_IF_ERROR(tx.begin_status());
      auto after = Transition(o.id, OfferEvent::kExpire, ", closed_at = ?2", nullptr);
      if (!after.ok()) {
        if (after.status().code() == StatusCode::kFailedPrecondition) continue;  // answered meanwhile
        return after.status();
      }
      auto cancel = db_.Prepare(
          "UPDATE outbox SET state = 'cancelled', last_error = 'the offer expired', updated_at = ? "
          "WHERE reply_to = ? AND state = 'queued'");
      if (!cancel.ok()) return cancel.status();
      cancel->Bind(1, FormatTimestamp(now)).Bind(2, o.id);
      ENNAKKO_RETURN_IF_ERROR(cancel->Run());
      ENNAKKO_RETURN_IF_ERROR(tx.Commit());
      audit_("offer.expired", {{"offer", o.id}, {"service", o.service}, {"reply_within_days", rule->reply_within_days}});
      ++stats.expired;
      continue;
    }
    if (o.reminders >= static_cast<int>(rule->remind_after_days.size())) continue;
    if (now < *basis + rule->remind_after_days[static_cast<size_t>(o.reminders)] * day) continue;
    const int number = o.reminders + 1;
    Transaction tx(db_);
    ENNAKKO_RETURN_IF_ERROR(tx.begin_status());
    OfferRecord before;
    auto after = Transition(o.id, OfferEvent::kRemind, ", reminders = reminders + 1, reminded_at = ?2", nullptr, &before);
    if (!after.ok()) {
      if (after.status().code() == StatusCode::kFailedPrecondition) continue;  // answered meanwhile
      return after.status();
    }
    const std::string key = Sha256Hex(fmt::format("ennakko-reminder-v1|{}|{}", before.idem_key, number));
    const std::string ts = FormatTimestamp(now);
    auto ins = db_.Prepare(
        "INSERT INTO outbox (idem_key, service, subject_id, recipient_id, period, decision_id, language, state, "
        "next_attempt_at, created_at, updated_at, kind, reply_to) "
        "SELECT ?1, service, subject_id, recipient_id, period, decision_id, language, 'queued', ?2, ?2, ?2, "
        "'reminder', id FROM outbox WHERE id = ?3 ON CONFLICT(idem_key) DO NOTHING");
    if (!ins.ok()) return ins.status();
    ins->Bind(1, key).Bind(2, ts).Bind(3, o.id);
    ENNAKKO_RETURN_IF_ERROR(ins->Run());
    int64_t reminder_id = db_.Changes() > 0 ? db_.LastInsertRowId() : 0;
    ENNAKKO_RETURN_IF_ERROR(tx.Commit());
    audit_("offer.reminded", {{"offer", o.id}, {"service", o.service}, {"reminder", number}, {"reminder_offer", reminder_id}});
    ++stats.reminded;
  }
  return stats;
}

}  // namespace ennakko
