// What happens to an offer after it was sent: delivery reports, answers, reminders and expiry.
//
// The outbox (outbox.h) takes an offer as far as `sent`. From there the lifecycle moves it on:
//
//   sent ──delivered──► delivered ──┬──remind──► reminded ──┬──accept/decline──► replied
//     │                             │                       ├──expire──► expired
//     └──not delivered──► failed    └──not delivered──► failed (paper returned to sender)
//   sent / delivered / reminded ──accept/decline──► replied (outcome accepted | declined)
//   sent / delivered / reminded ──expire──► expired
//   in_doubt ──delivered / accept / decline──► delivered / replied (the report proves it left)
//
// A report that arrives while the offer is still `sending` (Kannel is that fast) is kept on the
// row and Outbox::MarkSent then records delivered or failed instead of sent.
// A delivery report for an offer that has moved on (reminded, replied, expired) keeps its state
// and records only when and how it was delivered. Everything else (answering twice, answering an
// expired, cancelled or queued offer, a delivery report for an offer never sent) is refused with
// FailedPrecondition and changes nothing. A reminder is an outbox row of its own (kind
// 'reminder', reply_to = the offer) with an idempotency key derived from the offer's key and the
// reminder's number, so a reminder is sent at most once, through the normal outbox and channels.
//
// Every change is one conditional UPDATE (WHERE state = the state it was read in) or one
// transaction, so the HTTP thread (replies, delivery reports) and the main loop (reminders,
// Suomi.fi events) can use their own connections to the same store. Every change is audited
// with pseudonyms only. Not thread-safe: one OfferLifecycle per Db (per thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/date.h"
#include "engine/base/status.h"
#include "engine/dispatch/dispatcher.h"
#include "engine/store/sqlite.h"

namespace ennakko {

enum class OfferState {
  kQueued, kSending, kSent, kDelivered, kReminded, kReplied, kExpired, kFailed, kInDoubt, kCancelled
};
std::string_view StateName(OfferState state);
std::optional<OfferState> ParseOfferState(std::string_view name);

enum class OfferEvent { kDelivered, kNotDelivered, kRemind, kAccept, kDecline, kExpire };
std::string_view EventName(OfferEvent event);

// The state after `event` in `from`, or FailedPrecondition ("cannot accept an offer that is
// expired") when the state machine above forbids it. Pure.
Result<OfferState> NextState(OfferState from, OfferEvent event);

// One outbox row as the lifecycle sees it.
struct OfferRecord {
  int64_t id = 0;
  std::string kind;  // offer | reminder
  int64_t reply_to = 0;
  std::string idem_key, service, period, language, channel;
  OfferState state = OfferState::kQueued;
  std::string sent_at, delivered_at, outcome, replied_at;
  int reminders = 0;
  std::string recipient_code;      // identity code: never logged
  std::string subject_first_name;  // for the reply page; never logged
};

// What a delivery report or a Suomi.fi event said about one outbox row.
struct DeliveryReport {
  bool delivered = true;  // false: it will not arrive (not delivered, returned to sender)
  std::string how;        // delivered: handset | read | paper
  std::string reason;     // not delivered: why (no personal data)
  std::string source;     // kannel-dlr | suomifi-events

  static DeliveryReport Delivered(std::string how, std::string source) {
    return {true, std::move(how), {}, std::move(source)};
  }
  static DeliveryReport NotDelivered(std::string reason, std::string source) {
    return {false, {}, std::move(reason), std::move(source)};
  }
};

// What RemindAndExpire did.
struct LifecycleStats {
  int reminded = 0;
  int expired = 0;
};

// The reply settings of a service's rule: nullptr when the rule is not loaded.
using RuleLookupFn = std::function<const RuleSpec*(const std::string& service)>;

class OfferLifecycle {
 public:
  OfferLifecycle(Db& db, const Clock& clock, AuditFn audit, PseudonymFn pseudonym)
      : db_(db), clock_(clock), audit_(std::move(audit)), pseudonym_(std::move(pseudonym)) {}

  // The row, or NotFound.
  Result<OfferRecord> Load(int64_t id);

  // Records a delivery report for any outbox row (offer or reminder). Returns the state after it.
  Result<OfferState> RecordDelivery(int64_t id, const DeliveryReport& report);

  // Records the resident's answer to an offer (kind 'offer') and audits it. `via`: sms | link.
  Result<OfferState> RecordAnswer(int64_t offer_id, bool accepted, std::string_view via);

  // Keeps every answer we received, matched or not (replies table): meaning only, no text.
  Status RecordReply(std::optional<int64_t> offer_id, std::string_view via, std::string_view meaning);

  // Offers still open to an answer (sent, delivered, reminded, in_doubt) to the residents whose
  // phone is `phone` (E.164), oldest first.
  Result<std::vector<OfferRecord>> OpenOffersForPhone(std::string_view phone);
  // The language of a resident with this phone (empty when none is known).
  Result<std::string> LanguageForPhone(std::string_view phone);

  // For every open offer whose rule has reply settings: queues the next reminder when its
  // remind_after has passed since delivery (or since sending when no report came), or expires it
  // when reply_within has passed. `day` is the length of a rule's "d" (one day; shorter only in
  // tests, see docs/operator-guide.md).
  Result<LifecycleStats> RemindAndExpire(const RuleLookupFn& rule_for,
                                         std::chrono::seconds day = std::chrono::hours(24));

 private:
  // Moves `id` from the state it is in by `event`, running `extra` (SET clauses with their
  // binds) in the same UPDATE. Retries when another connection moved it in between.
  Result<OfferState> Transition(int64_t id, OfferEvent event, const std::string& set_sql,
                                const std::function<void(Stmt&, int first_index)>& bind,
                                OfferRecord* before = nullptr);

  Db& db_;
  const Clock& clock_;
  AuditFn audit_;
  PseudonymFn pseudonym_;
};

}  // namespace ennakko
