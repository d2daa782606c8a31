// The dispatcher drains the outbox: it claims due offers, picks each recipient's channel, renders
// the message in the recipient's language, sends through the channel and records the outcome.
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
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/dispatch/channel.h"
#include "engine/dispatch/outbox.h"
#include "engine/eval/program.h"

namespace ennakko {

struct DispatcherOptions {
  int batch_size = 256;  // offers claimed per round
  int workers = 4;       // sends in flight at once within a batch
  int max_attempts = 8;  // transient failures before an offer is marked failed
  std::chrono::milliseconds initial_backoff{1000};  // first retry delay; doubles per attempt
  std::chrono::milliseconds max_backoff{300000};    // retry delay cap
};

struct DrainStats {
  int claimed = 0;
  int sent = 0;
  int retried = 0;
  int failed = 0;
  int unclaimed = 0;  // put back because of a stop request
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

  // Handles one batch of due offers; returns what happened. Zero claimed means nothing is due.
  Result<DrainStats> DrainOnce(const std::atomic<bool>& stop);

  // At start: resolve offers a previous process left in `sending`.
  Result<int> Recover();

 private:
  ChannelChoice Choose(const ClaimedOffer& offer, size_t start_after = 0) const;
  const RuleSpec* RuleFor(const std::string& service) const;
  std::chrono::milliseconds Backoff(int attempt);

  const DispatcherOptions options_;
  Db& db_;
  Outbox outbox_;
  std::map<std::string, Channel*> channels_;
  AuditFn audit_;
  PseudonymFn pseudonym_;
  std::shared_ptr<const RuleSet> rules_;
  MessageValuesFn message_values_;
  std::mt19937_64 jitter_{std::random_device{}()};
};

}  // namespace ennakko
