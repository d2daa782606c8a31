// The outbox: offers waiting to be sent, persisted in SQLite as an explicit state machine.
//
//   queued ──claim──► sending ──► sent
//     ▲                  │  └───► failed      (permanent failure on every channel, or attempts used up)
//     └──── retry ◄──────┘                    (transient failure: next_attempt_at with backoff)
//   sending ──(restart)──► queued   when the channel is idempotent (re-sending cannot duplicate)
//                      │             or the message was not handed over yet (channel.h)
//                      ├─► sent, unconfirmed  when it was handed over (also a timeout after the
//                      │             hand-over at run time); on a channel with delivery reports, a
//                      │             report must come by confirm_by, or the offer goes back to queued
//                      │             once (then in_doubt) — ResendUnconfirmed; otherwise never again
//                      └─► in_doubt when neither applies: an operator decides
//
// Invariant: at most one row per idempotency key, ever (UNIQUE idem_key), so a restart, a retry or
// a re-evaluation cannot create a second offer. Every transition is one SQL statement or one
// transaction. Not thread-safe: use from the thread that owns the Db.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/base/date.h"
#include "engine/base/status.h"
#include "engine/store/sqlite.h"

namespace ennakko {

// Derives the idempotency key of an offer from what makes it unique: (service, subject,
// recipient, period). Never from a time or a counter. Also used as the Suomi.fi externalId.
std::string OfferKey(std::string_view service, std::string_view subject_code,
                     std::string_view recipient_code, std::string_view period);

struct NewOffer {
  std::string service;
  int64_t subject_id = 0;
  int64_t recipient_id = 0;
  std::string period;
  int64_t decision_id = 0;
  std::string language;
  std::string idem_key;
};

struct ClaimedOffer {
  int64_t id = 0;
  std::string idem_key;
  std::string service;
  std::string period;
  int attempts = 0;  // attempts before this one
  // Recipient and subject facts needed to address and render the message.
  std::string recipient_code;
  std::string recipient_language;
  std::optional<std::string> phone, email;
  bool address_protected = false;
  // For paper mail: the recipient's name and permanent address (all unset while protected:
  // the store holds no address then).
  std::string recipient_name;
  std::optional<std::string> street_address, postal_code, post_office;
  std::string subject_first_name;
  // Chosen at claim time and stored before any send, so a restart knows which channel was in use.
  std::string channel;
  // "offer", or "reminder" of the offer `reply_to` (offer_lifecycle.h).
  std::string kind = "offer";
  int64_t reply_to = 0;
};

// The channel chosen for an offer, or why none can reach the recipient, or until when the offer
// must wait (hold_until set: the offer stays queued; why_none says why it waits).
struct ChannelChoice {
  std::string channel;
  std::string why_none;
  std::optional<std::chrono::system_clock::time_point> hold_until = std::nullopt;
};

class Outbox {
 public:
  Outbox(Db& db, const Clock& clock) : db_(db), clock_(clock) {}

  // Inserts the offer unless its key exists. Returns the row id when inserted, 0 when it existed.
  // REQUIRES: called inside the caller's transaction when atomicity with a decision matters.
  Result<int64_t> Enqueue(const NewOffer& offer);

  // Moves up to `limit` due queued offers to sending with the channel `choose` picks (one
  // transaction) and returns them. An offer no channel can reach is marked failed, not returned;
  // one `choose` holds stays queued until its hold_until. Offers of a paused service
  // (service_pauses) are not looked at.
  Result<std::vector<ClaimedOffer>> ClaimDue(
      int limit, const std::function<ChannelChoice(const ClaimedOffer&)>& choose,
      std::vector<std::pair<int64_t, std::string>>* unreachable = nullptr);
  // Records the channel of a fallback attempt before it is made.
  Status SetChannel(int64_t id, std::string_view channel);

  // `unconfirmed`: why the gateway's acceptance is presumed, not known (kept in last_error and the
  // delivery record); empty for a gateway that answered.
  // `confirm_by`: with `unconfirmed`, on a channel whose gateway reports every message it had
  // (Channel::receipt_within): a report must come by then, or ResendUnconfirmed sends it again.
  Status MarkSent(int64_t id, std::string_view channel, std::string_view gateway_ref, int attempt,
                  std::string_view unconfirmed = {},
                  std::optional<std::chrono::system_clock::time_point> confirm_by = std::nullopt);
  // A delivery report for the offer arrived: its gateway had the message (sets receipt_at, clears
  // confirm_by; a later MarkSent sets no deadline). An offer that ResendUnconfirmed queued again
  // or held goes back to sent.
  Status ConfirmReceipt(int64_t id);
  // Offers sent, unconfirmed, whose confirm_by has passed without a delivery report: their gateway
  // never had the message. An offer goes back to queued, due now, to be sent again (sent_at kept),
  // once; the second time it is held in_doubt for an operator (reports are not reaching us). A
  // reminder is never sent again (its offer may be answered meanwhile); its deadline is dropped.
  struct Unconfirmed {
    std::vector<int64_t> resent, in_doubt;
  };
  Result<Unconfirmed> ResendUnconfirmed();
  // At start: a deadline that passed, or nearly, while the daemon was down gets the full wait
  // again from now, so that the gateway can retry the reports it could not deliver meanwhile.
  Status PostponeReceiptDeadlines(
      const std::function<std::optional<std::chrono::seconds>(const std::string& channel)>& receipt_within);
  // Records durably, in its own statement, that a message of this offer is being handed to
  // `channel`'s gateway now (Channel::marks_handover). Cleared when the offer is claimed again.
  Status MarkHandedOver(int64_t id, std::string_view channel);
  // A fallback to another channel within the same attempt: the channel in use, nothing handed over.
  Status MoveToChannel(int64_t id, std::string_view channel);
  // Transient failure: back to queued with next_attempt_at = now + delay.
  Status MarkRetry(int64_t id, std::string_view channel, std::string_view error, int attempt,
                   std::chrono::milliseconds delay);
  Status MarkFailed(int64_t id, std::string_view channel, std::string_view reason, int attempt);
  // Puts a claimed but never attempted offer back (shutdown before its turn).
  Status Unclaim(int64_t id);
  // Back to queued until `until` without a send (quiet hours, rate limit, open circuit, unknown
  // mailbox status); `attempts` counts the attempts made so far, `reason` goes to last_error.
  Status Hold(int64_t id, std::chrono::system_clock::time_point until, std::string_view reason, int attempts);
  // Records a permanent failure on one channel of an offer that goes on to another channel.
  Status RecordChannelFailure(int64_t id, int attempt, std::string_view channel, std::string_view reason) {
    return RecordDelivery(id, attempt, channel, "permanent_failure", reason, "");
  }

  // After a restart, offers left in `sending` are resolved by their channel's kind:
  //  - idempotent (or no channel attempted yet): back to queued; sending again is harmless;
  //  - marks the hand-over: handed over -> sent, unconfirmed (the gateway may have it: never
  //    twice), awaiting a delivery report until now + receipt_within(channel) when the channel
  //    has reports (then ResendUnconfirmed); not handed over -> queued (the gateway never got a
  //    complete message);
  //  - neither: in_doubt, for an operator.
  enum class ChannelKind { kIdempotent, kMarksHandover, kNeither };
  struct Recovered {
    int requeued = 0;
    int presumed_sent = 0;      // of which awaiting_receipt wait for a delivery report
    int awaiting_receipt = 0;
    int in_doubt = 0;
  };
  Result<Recovered> RecoverInFlight(
      const std::function<ChannelKind(const std::string& channel)>& kind,
      const std::function<std::optional<std::chrono::seconds>(const std::string& channel)>& receipt_within = {});
  // The same for channels that are either idempotent or neither. Returns how many went to in_doubt.
  Result<int> RecoverInFlight(const std::function<bool(const std::string& channel)>& idempotent);

  // Number of offers by state, for metrics.
  Result<std::map<std::string, int64_t>> CountByState();

 private:
  Status RecordDelivery(int64_t id, int attempt, std::string_view channel, std::string_view status,
                        std::string_view detail, std::string_view ref);
  Db& db_;
  const Clock& clock_;
};

}  // namespace ennakko
