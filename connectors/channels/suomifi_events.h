// The Suomi.fi Messages events feed (GET /v2/events?continuationToken=...; see
// /work/shared/reference/suomifi-messages-openapi.yaml) and what each event means for delivery.
//
// SuomiFiEventsClient::Fetch reads one page (at most 1000 events) after a continuation token
// ("" = from the oldest event still kept, 60 days) and returns the events with the token to
// persist for the next call. Auth as SuomiFiChannel: POST /v1/token, the token cached, renewed
// once on a 401. Unavailable on 5xx, 429, connection errors and timeouts; Permanent on other 4xx.
// Unknown event types and fields are ignored (the API may add them).
//
// Kept apart from suomifi_channel.{h,cc} so that sending and the feed can change independently;
// the feed needs only the account and the base URL. Never logs identity codes or tokens.
// Thread-safety: Fetch may be called from any thread (the token cache is behind a mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "connectors/channels/suomifi_channel.h"
#include "engine/base/status.h"

namespace ennakko {

struct SuomiFiEvent {
  std::string type;         // e.g. "Electronic message read"
  std::string event_time;   // as sent (RFC 3339)
  std::string message_id;   // metadata.messageId, as text
  std::string external_id;  // metadata.externalId: our idempotency key (may be absent)
  std::string posti_tracking_code;  // paper mail events
};

struct SuomiFiEventsPage {
  std::vector<SuomiFiEvent> events;
  std::string continuation_token;  // to persist and pass next time
};

// What an event says about a message's delivery.
struct SuomiFiDelivery {
  enum class Kind { kNone, kDelivered, kFailed };
  Kind kind = Kind::kNone;
  std::string how;     // kDelivered: read | paper | receipt
  std::string reason;  // kFailed
};

// "Electronic message read" -> delivered (read); "Sent for printing and enveloping" and "Paper
// mail created" -> delivered (paper); "Receipt confirmed" and "Posti: receipt confirmed" ->
// delivered (receipt); "Posti: returned to sender" -> failed with the tracking code; anything
// else (created, from end user, unresolved, unknown) -> kNone.
SuomiFiDelivery DeliveryMeaning(const SuomiFiEvent& event);

class SuomiFiEventsClient {
 public:
  explicit SuomiFiEventsClient(SuomiFiOptions options) : options_(Normalized(std::move(options))) {}
  Result<SuomiFiEventsPage> Fetch(const std::string& continuation_token);

 private:
  Result<std::string> Token();
  static SuomiFiOptions Normalized(SuomiFiOptions o) {
    while (!o.base_url.empty() && o.base_url.back() == '/') o.base_url.pop_back();
    return o;
  }

  const SuomiFiOptions options_;
  std::mutex mu_;
  std::string token_;  // protected by mu_
};

}  // namespace ennakko
