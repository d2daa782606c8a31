#include "engine/dispatch/outbox.h"

#include <fmt/format.h>

#include <tuple>

#include "engine/base/crypto.h"

namespace ennakko {

std::string OfferKey(std::string_view service, std::string_view subject_code,
                     std::string_view recipient_code, std::string_view period) {
  // Length-prefixed fields so that no two different tuples can concatenate to the same input.
  std::string input = "ennakko-offer-v1";
  for (std::string_view part : {service, subject_code, recipient_code, period}) {
    input += fmt::format("|{}:{}", part.size(), part);
  }
  return Sha256Hex(input);
}

Result<int64_t> Outbox::Enqueue(const NewOffer& o) {
  auto st = db_.Prepare(
      // The key is made of identity codes; after an identity-code correction the same people have
      // another code, so the offer is also looked for by (service, subject, recipient, period).
      "INSERT INTO outbox (idem_key, service, subject_id, recipient_id, period, decision_id, language, "
      "state, next_attempt_at, created_at, updated_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8, ?9, ?10 "
      "WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE service = ?2 AND subject_id = ?3 AND recipient_id = ?4 "
      "AND period = ?5 AND kind = 'offer' AND state <> 'cancelled') ON CONFLICT(idem_key) DO NOTHING");
  if (!st.ok()) return st.status();
  std::string now = FormatTimestamp(clock_.Now());
  st->Bind(1, o.idem_key).Bind(2, o.service).Bind(3, o.subject_id).Bind(4, o.recipient_id);
  st->Bind(5, o.period);
  if (o.decision_id) st->Bind(6, o.decision_id); else st->BindNull(6);
  st->Bind(7, o.language).Bind(8, now).Bind(9, now).Bind(10, now);
  ENNAKKO_RETURN_IF_ERROR(st->Run());
  return db_.Changes() > 0 ? db_.LastInsertRowId() : int64_t{0};
}

Result<std::vector<ClaimedOffer>> Outbox::ClaimDue(
    int limit, const std::function<ChannelChoice(const ClaimedOffer&)>& choose,
    std::vector<std::pair<int64_t, std::string>>* unreachable) {
  Transaction tx(db_);
  ENNAKKO_RETURN_IF_ERROR(tx.begin_status());
  std::string now = FormatTimestamp(clock_.Now());
  auto st = db_.Prepare(
      "SELECT o.id, o.idem_key, o.service, o.period, o.attempts, r.hetu, o.language, r.phone, r.email, "
      "r.address_protected, s.first_names, r.first_names, r.last_name, r.street_address, r.postal_code, "
      "r.post_office, o.kind, o.reply_to FROM outbox o JOIN residents r ON r.id = o.recipient_id "
      "JOIN residents s ON s.id = o.subject_id WHERE o.state = 'queued' AND o.next_attempt_at <= ? "
      "AND o.service NOT IN (SELECT service FROM service_pauses) ORDER BY o.next_attempt_at, o.id LIMIT ?");
  if (!st.ok()) return st.status();
  st->Bind(1, now).Bind(2, limit);
  std::vector<ClaimedOffer> out;
  for (;;) {
    auto row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    ClaimedOffer c;
    c.id = st->Int(0);
    c.idem_key = st->Text(1);
    c.service = st->Text(2);
    c.period = st->Text(3);
    c.attempts = static_cast<int>(st->Int(4));
    c.recipient_code = st->Text(5);
    c.recipient_language = st->Text(6);
    c.phone = st->OptText(7);
    c.email = st->OptText(8);
    c.address_protected = st->Int(9) != 0;
    std::string first = st->Text(10);
    c.subject_first_name = first.substr(0, first.find(' '));
    c.recipient_name = st->Text(11) + (st->Text(11).empty() ? "" : " ") + st->Text(12);
    if (!c.address_protected) {
      c.street_address = st->OptText(13);
      c.postal_code = st->OptText(14);
      c.post_office = st->OptText(15);
    }
    c.kind = st->Text(16);
    c.reply_to = st->OptInt(17).value_or(0);
    out.push_back(std::move(c));
  }
  auto upd = db_.Prepare("UPDATE outbox SET state = 'sending', channel = ?, updated_at = ?, handed_over_at = NULL WHERE id = ?");
  if (!upd.ok()) return upd.status();
  std::vector<ClaimedOffer> claimed;
  for (auto& c : out) {
    ChannelChoice choice = choose(c);
    if (choice.hold_until) {
      ENNAKKO_RETURN_IF_ERROR(Hold(c.id, *choice.hold_until, choice.why_none, c.attempts));
      continue;
    }
    if (choice.channel.empty()) {
      ENNAKKO_RETURN_IF_ERROR(MarkFailed(c.id, "", "no channel can reach the recipient: " + choice.why_none, c.attempts));
      if (unreachable) unreachable->emplace_back(c.id, choice.why_none);
      continue;
    }
    c.channel = choice.channel;
    upd->Bind(1, c.channel).Bind(2, now).Bind(3, c.id);
    ENNAKKO_RETURN_IF_ERROR(upd->Run());
    claimed.push_back(std::move(c));
  }
  ENNAKKO_RETURN_IF_ERROR(tx.Commit());
  return claimed;
}

Status Outbox::RecordDelivery(int64_t id, int attempt, std::string_view channel, std::string_view status,
                              std::string_view detail, std::string_view ref) {
  auto st = db_.Prepare(
      "INSERT INTO deliveries (outbox_id, attempt, channel, status, detail, gateway_ref, at) VALUES (?,?,?,?,?,?,?)");
  if (!st.ok()) return st.status();
  st->Bind(1, id).Bind(2, attempt).Bind(3, channel).Bind(4, status).Bind(5, detail).Bind(6, ref);
  st->Bind(7, FormatTimestamp(clock_.Now()));
  return st->Run();
}

Status Outbox::MarkSent(int64_t id, std::string_view channel, std::string_view ref, int attempt,
                        std::string_view unconfirmed,
                        std::optional<std::chrono::system_clock::time_point> confirm_by) {
  ENNAKKO_RETURN_IF_ERROR(RecordDelivery(id, attempt, channel, "sent", unconfirmed, ref));
  auto st = db_.Prepare(
      "UPDATE outbox SET channel = ?, gateway_ref = ?, attempts = ?, updated_at = ?4, sent_at = COALESCE(sent_at, ?4), "
      // A delivery report may have come in while we were sending (offer_lifecycle.h).
      "state = CASE WHEN closed_at IS NOT NULL THEN 'failed' WHEN delivered_at IS NOT NULL THEN 'delivered' "
      "ELSE 'sent' END, last_error = CASE WHEN closed_at IS NOT NULL THEN last_error ELSE ?6 END, "
      "confirm_by = CASE WHEN closed_at IS NULL AND delivered_at IS NULL AND receipt_at IS NULL THEN ?7 END "
      "WHERE id = ?5");
  if (!st.ok()) return st.status();
  st->Bind(1, channel).Bind(2, ref).Bind(3, attempt).Bind(4, FormatTimestamp(clock_.Now())).Bind(5, id);
  if (unconfirmed.empty()) st->BindNull(6); else st->Bind(6, unconfirmed);
  if (unconfirmed.empty() || !confirm_by) st->BindNull(7); else st->Bind(7, FormatTimestamp(*confirm_by));
  return st->Run();
}

Status Outbox::ConfirmReceipt(int64_t id) {
  // Kept even when the report comes before the send is recorded (a restart that has not recovered
  // the row yet): MarkSent then sets no deadline. An offer queued again, or held for an operator,
  // because no report had come (ResendUnconfirmed keeps its sent_at) did reach the gateway after
  // all: back to sent, not sent again. (Every SET expression sees the row as it was.)
  auto st = db_.Prepare(
      "UPDATE outbox SET receipt_at = COALESCE(receipt_at, ?1), confirm_by = NULL, "
      "state = CASE WHEN state IN ('queued', 'in_doubt') AND sent_at IS NOT NULL THEN 'sent' ELSE state END, "
      "last_error = CASE WHEN state IN ('queued', 'in_doubt') AND sent_at IS NOT NULL "
      "THEN 'unconfirmed: its delivery report came late; not sent again' ELSE last_error END WHERE id = ?2");
  if (!st.ok()) return st.status();
  st->Bind(1, FormatTimestamp(clock_.Now())).Bind(2, id);
  return st->Run();
}

Status Outbox::PostponeReceiptDeadlines(
    const std::function<std::optional<std::chrono::seconds>(const std::string&)>& receipt_within) {
  auto find = db_.Prepare("SELECT id, channel FROM outbox WHERE confirm_by IS NOT NULL AND state = 'sent'");
  if (!find.ok()) return find.status();
  std::vector<std::pair<int64_t, std::string>> rows;
  for (;;) {
    auto row = find->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    rows.emplace_back(find->Int(0), find->OptText(1).value_or(""));
  }
  auto update = db_.Prepare("UPDATE outbox SET confirm_by = max(confirm_by, ?) WHERE id = ? AND confirm_by IS NOT NULL");
  if (!update.ok()) return update.status();
  for (const auto& [id, channel] : rows) {
    auto wait = receipt_within(channel);
    if (!wait) continue;  // the channel has no reports now: the deadline stands
    update->Bind(1, FormatTimestamp(clock_.Now() + *wait)).Bind(2, id);
    ENNAKKO_RETURN_IF_ERROR(update->Run());
  }
  return Status::Ok();
}

Result<Outbox::Unconfirmed> Outbox::ResendUnconfirmed() {
  const std::string now = FormatTimestamp(clock_.Now());
  Unconfirmed out;
  // Timestamps are fixed-width UTC text: compared as text, they compare as times. A read first,
  // on the partial index, so that an idle daemon does not take the write lock every second.
  auto due = db_.Prepare("SELECT 1 FROM outbox WHERE confirm_by IS NOT NULL AND confirm_by <= ? LIMIT 1");
  if (!due.ok()) return due.status();
  due->Bind(1, now);
  auto any = due->Step();
  if (!any.ok()) return any.status();
  if (!*any) return out;
  due->Reset();
  Transaction tx(db_);
  ENNAKKO_RETURN_IF_ERROR(tx.begin_status());
  auto find = db_.Prepare(
      "SELECT id, channel, attempts, kind, EXISTS (SELECT 1 FROM deliveries d WHERE d.outbox_id = o.id AND "
      "d.status = 'no_receipt') FROM outbox o WHERE confirm_by IS NOT NULL AND confirm_by <= ? ORDER BY id");
  if (!find.ok()) return find.status();
  find->Bind(1, now);
  struct Row {
    int64_t id;
    std::string channel, kind;
    int attempts;
    bool resent_before;
  };
  std::vector<Row> rows;
  for (;;) {
    auto row = find->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    rows.push_back({find->Int(0), find->OptText(1).value_or(""), find->Text(3), static_cast<int>(find->Int(2)),
                    find->Int(4) != 0});
  }
  // The guards repeat the select's: only an offer still sent, with no report of any kind.
  constexpr const char* kOpen =
      " WHERE id = ?2 AND state = 'sent' AND delivered_at IS NULL AND closed_at IS NULL AND receipt_at IS NULL";
  auto requeue = db_.Prepare(std::string(
      "UPDATE outbox SET state = 'queued', confirm_by = NULL, handed_over_at = NULL, next_attempt_at = ?1, "
      "updated_at = ?1, last_error = 'no delivery report in time: the gateway never had the message; sending it "
      "again'") + kOpen);
  auto doubt = db_.Prepare(std::string(
      "UPDATE outbox SET state = 'in_doubt', confirm_by = NULL, updated_at = ?1, last_error = 'no delivery report "
      "after a resend either: check that Kannel reaches replies.dlr_url and retries it before sending again'") + kOpen);
  auto settle = db_.Prepare("UPDATE outbox SET confirm_by = NULL WHERE id = ?");
  if (!requeue.ok()) return requeue.status();
  if (!doubt.ok()) return doubt.status();
  if (!settle.ok()) return settle.status();
  for (const Row& r : rows) {
    const std::string channel = r.channel.empty() ? "none" : r.channel;
    if (r.kind != "offer") {
      // A reminder is not sent again: its offer may have been answered or expired meanwhile.
      settle->Bind(1, r.id);
      ENNAKKO_RETURN_IF_ERROR(settle->Run());
      continue;
    }
    Stmt& st = r.resent_before ? *doubt : *requeue;
    st.Bind(1, now).Bind(2, r.id);
    ENNAKKO_RETURN_IF_ERROR(st.Run());
    if (db_.Changes() == 0) {  // no longer open: nothing to decide
      settle->Bind(1, r.id);
      ENNAKKO_RETURN_IF_ERROR(settle->Run());
      continue;
    }
    ENNAKKO_RETURN_IF_ERROR(RecordDelivery(r.id, r.attempts, channel, r.resent_before ? "no_receipt_again" : "no_receipt",
                                           r.resent_before ? "no delivery report after the resend; held for an operator"
                                                           : "no delivery report by the deadline; sent again",
                                           ""));
    (r.resent_before ? out.in_doubt : out.resent).push_back(r.id);
  }
  ENNAKKO_RETURN_IF_ERROR(tx.Commit());
  return out;
}

Status Outbox::MoveToChannel(int64_t id, std::string_view channel) {
  auto st = db_.Prepare("UPDATE outbox SET channel = ?, handed_over_at = NULL WHERE id = ? AND state = 'sending'");
  if (!st.ok()) return st.status();
  st->Bind(1, channel).Bind(2, id);
  return st->Run();
}

Status Outbox::MarkHandedOver(int64_t id, std::string_view channel) {
  auto st = db_.Prepare("UPDATE outbox SET channel = ?, handed_over_at = ? WHERE id = ? AND state = 'sending'");
  if (!st.ok()) return st.status();
  st->Bind(1, channel).Bind(2, FormatTimestamp(clock_.Now())).Bind(3, id);
  return st->Run();
}

Status Outbox::MarkRetry(int64_t id, std::string_view channel, std::string_view error, int attempt,
                         std::chrono::milliseconds delay) {
  ENNAKKO_RETURN_IF_ERROR(RecordDelivery(id, attempt, channel, "transient_failure", error, ""));
  auto st = db_.Prepare(
      // A delivery report that came in during the send proves the message arrived: never again.
      "UPDATE outbox SET state = CASE WHEN delivered_at IS NOT NULL THEN 'delivered' ELSE 'queued' END, "
      "sent_at = CASE WHEN delivered_at IS NOT NULL THEN COALESCE(sent_at, ?5) ELSE sent_at END, "
      "channel = ?1, attempts = ?2, last_error = ?3, next_attempt_at = ?4, updated_at = ?5 WHERE id = ?6");
  if (!st.ok()) return st.status();
  auto now = clock_.Now();
  st->Bind(1, channel).Bind(2, attempt).Bind(3, error).Bind(4, FormatTimestamp(now + delay));
  st->Bind(5, FormatTimestamp(now)).Bind(6, id);  // ?5 and ?6 are numbered: used twice
  return st->Run();
}

Status Outbox::MarkFailed(int64_t id, std::string_view channel, std::string_view reason, int attempt) {
  ENNAKKO_RETURN_IF_ERROR(RecordDelivery(id, attempt, channel.empty() ? "none" : channel, "permanent_failure", reason, ""));
  auto st = db_.Prepare(
      "UPDATE outbox SET state = 'failed', channel = ?, attempts = ?, last_error = ?, updated_at = ? WHERE id = ?");
  if (!st.ok()) return st.status();
  if (channel.empty()) st->BindNull(1); else st->Bind(1, channel);
  st->Bind(2, attempt).Bind(3, reason).Bind(4, FormatTimestamp(clock_.Now())).Bind(5, id);
  return st->Run();
}

Status Outbox::SetChannel(int64_t id, std::string_view channel) {
  auto st = db_.Prepare("UPDATE outbox SET channel = ? WHERE id = ?");
  if (!st.ok()) return st.status();
  st->Bind(1, channel).Bind(2, id);
  return st->Run();
}

Status Outbox::Unclaim(int64_t id) {
  auto st = db_.Prepare("UPDATE outbox SET state = 'queued' WHERE id = ? AND state = 'sending'");
  if (!st.ok()) return st.status();
  st->Bind(1, id);
  return st->Run();
}

Status Outbox::Hold(int64_t id, std::chrono::system_clock::time_point until, std::string_view reason,
                    int attempts) {
  auto st = db_.Prepare(
      "UPDATE outbox SET state = 'queued', attempts = ?, last_error = ?, next_attempt_at = ?, updated_at = ? "
      "WHERE id = ?");
  if (!st.ok()) return st.status();
  st->Bind(1, attempts).Bind(2, reason).Bind(3, FormatTimestamp(until)).Bind(4, FormatTimestamp(clock_.Now()));
  st->Bind(5, id);
  return st->Run();
}

Result<int> Outbox::RecoverInFlight(const std::function<bool(const std::string&)>& idempotent) {
  auto r = RecoverInFlight([&](const std::string& channel) {
    return idempotent(channel) ? ChannelKind::kIdempotent : ChannelKind::kNeither;
  });
  if (!r.ok()) return r.status();
  return r->in_doubt;
}

Result<Outbox::Recovered> Outbox::RecoverInFlight(
    const std::function<ChannelKind(const std::string&)>& kind,
    const std::function<std::optional<std::chrono::seconds>(const std::string&)>& receipt_within) {
  Transaction tx(db_);
  ENNAKKO_RETURN_IF_ERROR(tx.begin_status());
  // `channel` holds the channel in use, written before the send (ClaimDue, SetChannel) and again
  // at the hand-over (MarkHandedOver), which is also when handed_over_at is set.
  auto st = db_.Prepare("SELECT id, channel, handed_over_at, attempts FROM outbox WHERE state = 'sending'");
  if (!st.ok()) return st.status();
  struct Row {
    int64_t id;
    std::optional<std::string> channel, handed_over_at;
    int attempts;
  };
  std::vector<Row> rows;
  for (;;) {
    auto row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    rows.push_back({st->Int(0), st->OptText(1), st->OptText(2), static_cast<int>(st->Int(3))});
  }
  Recovered out;
  auto requeue = db_.Prepare("UPDATE outbox SET state = 'queued' WHERE id = ?");
  auto doubt = db_.Prepare(
      "UPDATE outbox SET state = 'in_doubt', last_error = 'process stopped during a send on a channel without "
      "idempotency; check the gateway before re-sending' WHERE id = ?");
  if (!requeue.ok()) return requeue.status();
  if (!doubt.ok()) return doubt.status();
  for (const Row& r : rows) {
    const ChannelKind k = r.channel ? kind(*r.channel) : ChannelKind::kIdempotent;
    if (k == ChannelKind::kMarksHandover && r.handed_over_at) {
      std::optional<std::chrono::system_clock::time_point> confirm_by;
      if (receipt_within) {
        if (auto wait = receipt_within(*r.channel)) confirm_by = clock_.Now() + *wait;
      }
      ENNAKKO_RETURN_IF_ERROR(MarkSent(r.id, *r.channel, "", r.attempts + 1,
                                       "unconfirmed: the process stopped after handing the message to the "
                                       "gateway, before its answer was recorded",
                                       confirm_by));
      ++out.presumed_sent;
      if (confirm_by) ++out.awaiting_receipt;
    } else if (k == ChannelKind::kNeither) {
      doubt->Bind(1, r.id);
      ENNAKKO_RETURN_IF_ERROR(doubt->Run());
      ++out.in_doubt;
    } else {
      requeue->Bind(1, r.id);
      ENNAKKO_RETURN_IF_ERROR(requeue->Run());
      ++out.requeued;
    }
  }
  ENNAKKO_RETURN_IF_ERROR(tx.Commit());
  return out;
}

Result<std::map<std::string, int64_t>> Outbox::CountByState() {
  auto st = db_.Prepare("SELECT state, count(*) FROM outbox GROUP BY state");
  if (!st.ok()) return st.status();
  std::map<std::string, int64_t> out;
  for (;;) {
    auto row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out[st->Text(0)] = st->Int(1);
  }
  return out;
}

}  // namespace ennakko
