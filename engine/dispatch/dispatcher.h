// The dispatcher drains the outbox: it claims due offers, picks each recipient's channel, renders
// the message in the recipient's language, sends through the channel and records the outcome.
//
// Channel choice: the rule's ordered channel list, skipping the channels that cannot reach the
// recipient (not configured; the channel's own CannotReach, e.g. no phone, no e-mail; paper for a
// protected address; suomifi without an active mailbox, from the MailboxStatusCache, refreshed in
// one batched call for the offers about to be claimed; a channel that already failed permanently
// for this offer). The first channel left is chosen; the others are the fallbacks after a
// permanent failure. The choice and every skipped channel with its reason are audited.
// Gates on the chosen channel make the offer wait (stay queued, no attempt used) rather than move
// to another channel: quiet hours (SMS 21:00–08:00 Helsinki: held until the end), the channel's
// token bucket (held until a token is due), its circuit breaker (held while open), and an unknown
// mailbox status after a failed check (held for mailbox_retry). Paused services are not claimed.
//
// One DrainOnce call handles one batch: claim (one transaction) → send concurrently on
// `workers` threads → record every outcome (one transaction). A stop request lets the sends in
// progress finish and puts the not-yet-attempted offers back in the queue, so a stop never leaves
// an offer half-done. Not thread-safe: call DrainOnce from one thread (it owns the Db); channels
// are called from the worker threads and must be thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/base/metrics.h"
#include "engine/dispatch/channel.h"
#include "engine/dispatch/circuit_breaker.h"
#include "engine/dispatch/mailbox_status.h"
#include "engine/dispatch/outbox.h"
#include "engine/dispatch/quiet_hours.h"
#include "engine/dispatch/token_bucket.h"
#include "engine/eval/program.h"

namespace ennakko {

struct DispatcherOptions {
  int batch_size = 256;  // offers claimed per round
  int workers = 4;       // sends in flight at once within a batch
  int max_attempts = 8;  // transient failures before an offer is marked failed
  std::chrono::milliseconds initial_backoff{1000};  // first retry delay; doubles per attempt
  std::chrono::milliseconds max_backoff{300000};    // retry delay cap
  // Per channel name: sends a second and burst. A channel not named here is not rate limited.
  std::map<std::string, RateLimit> rate_limits;
  // Per channel name: Helsinki local hours without sends. No SMS 21:00–08:00 unless configured.
  std::map<std::string, QuietHours> quiet_hours = {{"sms", QuietHours::Sms()}};
  CircuitBreakerOptions circuit_breaker;            // the same settings for each channel's breaker
  std::chrono::milliseconds mailbox_retry{60000};   // wait after a failed Suomi.fi mailbox check
};

struct DrainStats {
  int claimed = 0;
  int sent = 0;
  int retried = 0;
  int failed = 0;
  int unclaimed = 0;  // put back because of a stop request
  int held = 0;       // left queued for later: quiet hours, rate limit, open circuit, mailbox unknown
};

// Audit sink: (event type, fields). Fields carry pseudonyms only.
using AuditFn = std::function<void(std::string_view type, const nlohmann::json& fields)>;
// Identity code -> pseudonym.
using PseudonymFn = std::function<std::string(std::string_view code)>;

// Renders a service's message for a language (fallback fi) with its placeholders filled.
struct RenderedMessage {
  std::string language;  // the language actually used
  std::string title;
  std::string body;
};
RenderedMessage RenderMessage(const RuleSpec& rule, const std::string& language,
                              const std::map<std::string, std::string>& values);

// A short code for replies that name the offer ("KYLLÄ K7Q"): base-32 of the outbox id.
std::string ReplyCode(int64_t outbox_id);

class Dispatcher {
 public:
  Dispatcher(DispatcherOptions options, Db& db, const Clock& clock,
             std::map<std::string, Channel*> channels, AuditFn audit, PseudonymFn pseudonym);

  // The rule set supplies channel lists and message templates; swap on reload.
  void SetRules(std::shared_ptr<const RuleSet> rules) { rules_ = std::move(rules); }

  // Extra placeholder values for one message on one channel (reply links, reminder wording),
  // set by engine/app. Called on worker threads: must be thread-safe.
  using MessageValuesFn = std::function<void(const ClaimedOffer&, std::string_view channel,
                                             std::map<std::string, std::string>& values)>;
  void SetMessageValues(MessageValuesFn fn) { message_values_ = std::move(fn); }
  // Makes the audit events appended so far durable. Called before a batch's outcomes are
  // committed, so that a crash never leaves a committed send without its audit event.
  void SetAuditFlush(std::function<Status()> flush) { audit_flush_ = std::move(flush); }

  // Handles one batch of due offers; returns what happened. Zero claimed means nothing is due.
  Result<DrainStats> DrainOnce(const std::atomic<bool>& stop);

  // At start: resolve offers a previous process left in `sending`.
  Result<int> Recover();

  // Optional: the cached Suomi.fi mailbox status (suomifi is chosen only for active mailboxes).
  // REQUIRES: uses the same Db as the dispatcher; set before the first DrainOnce.
  void SetMailboxStatus(MailboxStatusCache* cache) { mailbox_ = cache; }
  // Optional: where circuit states, holds and mailbox checks are counted. Set before DrainOnce.
  void SetMetrics(MetricsRegistry* metrics);
  CircuitBreaker::State circuit_state(const std::string& channel);

 private:
  // Channel::receipt_within of a configured channel; empty for others.
  std::optional<std::chrono::seconds> ReceiptWithin(const std::string& channel) const;
  // Offers whose delivery report did not come in time go out again (Outbox::ResendUnconfirmed);
  // audited with their ids. Run at the start of each DrainOnce.
  Status ResendUnconfirmed();
  // Why an offer waits instead of being sent now.
  struct Hold {
    std::chrono::system_clock::time_point until;
    std::string kind;    // quiet_hours | rate_limit | circuit_open | mailbox_unknown
    std::string reason;  // for last_error and the audit log; no personal data
  };
  // The reachable channels of a claimed offer in the rule's order (first: chosen) and the
  // channels skipped with their reasons.
  struct Plan {
    std::vector<std::string> candidates;
    std::vector<std::pair<std::string, std::string>> skipped;
  };
  ChannelChoice ChooseAtClaim(const ClaimedOffer& offer);
  // Empty when `channel` can reach the recipient; else why not. `unknown` is set when only the
  // mailbox status is missing.
  std::string Unreachable(const std::string& channel, const Recipient& recipient,
                          const std::vector<std::string>& failed_before, bool* unknown);
  // A gate that makes an offer wait for `channel` now; takes a token and the circuit's admission
  // when there is none. At claim time an offer that finds no token is given the next free slot of
  // the channel's schedule (token_slots_), so that a long queue is held once, spread at the
  // channel's rate, instead of being re-held every round.
  std::optional<Hold> Gate(const std::string& channel, bool at_claim);
  void RefreshMailboxes();
  Result<std::vector<std::string>> FailedChannels(int64_t offer_id);
  const RuleSpec* RuleFor(const std::string& service) const;
  std::chrono::milliseconds Backoff(int attempt);
  void AuditHolds(const std::vector<std::tuple<int64_t, std::string, Hold>>& holds);

  const DispatcherOptions options_;
  Db& db_;
  Outbox outbox_;
  std::map<std::string, Channel*> channels_;
  AuditFn audit_;
  PseudonymFn pseudonym_;
  std::shared_ptr<const RuleSet> rules_;
  MessageValuesFn message_values_;
  std::mt19937_64 jitter_{std::random_device{}()};
  std::function<Status()> audit_flush_;
  std::mutex handover_mu_;  // orders the workers' hand-over records on db_
  const Clock& clock_;
  MailboxStatusCache* mailbox_ = nullptr;
  std::atomic<MetricsRegistry*> metrics_{nullptr};
  // One of each per configured channel, created in the constructor (the maps are not changed
  // afterwards; the objects are thread-safe).
  std::map<std::string, std::unique_ptr<TokenBucket>> buckets_;
  std::map<std::string, std::unique_ptr<CircuitBreaker>> breakers_;
  // Per DrainOnce, written while claiming (this thread) and read by the workers.
  std::unordered_map<int64_t, Plan> plans_;
  std::vector<std::tuple<int64_t, std::string, Hold>> claim_holds_;  // offer, channel, hold
  std::map<std::string, std::chrono::system_clock::time_point> token_slots_;  // claim thread only
  bool mailbox_check_failed_ = false;
};

}  // namespace ennakko
