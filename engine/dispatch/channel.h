// The interface every delivery channel implements (file, SMS through Kannel, email, Suomi.fi).
//
// The dispatcher knows channels only through this header; engine/app wires concrete ones. A
// Channel's Send is blocking, bounded by the channel's own timeouts, and must be thread-safe.
// Messages carry personal data (that is their point); a channel must never log them: log the
// outbox id and the recipient's pseudonym only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/base/status.h"

namespace ennakko {

struct Recipient {
  std::string pseudonym;  // HMAC pseudonym: the only identifier allowed in logs
  std::string hetu;       // identity code: Suomi.fi recipient id; never logged
  std::string language;   // fi | sv | en
  std::optional<std::string> phone;  // E.164, e.g. +358401234567
  std::optional<std::string> email;
  bool address_protected = false;    // turvakielto: no postal address exists for us
};

struct OutgoingMessage {
  int64_t outbox_id = 0;
  std::string idempotency_key;  // stable across retries and restarts; Suomi.fi externalId
  std::string service;
  Recipient recipient;
  std::string title;  // subject line / message title
  std::string body;   // plain text, already rendered in the recipient's language
};

struct SendOutcome {
  enum class Kind {
    kSent,       // accepted by the gateway
    kTransient,  // may succeed later: retry with backoff
    kPermanent,  // will not succeed on this channel: fall back or fail
  };
  Kind kind = Kind::kTransient;
  std::string gateway_ref;  // the gateway's id for the message, when it gives one
  std::string detail;       // reason on failure; no personal data

  static SendOutcome Sent(std::string ref = {}) { return {Kind::kSent, std::move(ref), {}}; }
  static SendOutcome Transient(std::string why) { return {Kind::kTransient, {}, std::move(why)}; }
  static SendOutcome Permanent(std::string why) { return {Kind::kPermanent, {}, std::move(why)}; }
};

class Channel {
 public:
  virtual ~Channel() = default;
  // The name used in rules' channel lists and in config: "file", "sms", "email", "suomifi".
  virtual std::string_view name() const = 0;
  // True when sending the same idempotency key twice delivers at most once (the file channel
  // writes a file named by the key; Suomi.fi answers 409 to a reused externalId). A send left
  // in doubt by a crash is retried only on an idempotent channel.
  virtual bool idempotent() const = 0;
  // Empty when the recipient can be reached on this channel; otherwise why not ("no phone").
  virtual std::string CannotReach(const Recipient& recipient) const = 0;
  virtual SendOutcome Send(const OutgoingMessage& message) = 0;
  // Makes the sends accepted since the last call durable; the dispatcher calls it once per batch,
  // after the batch's sends and before it records them as sent. Most channels hand each message
  // to a gateway in Send and have nothing to do. An error turns the batch's sends on this channel
  // into transient failures (retried), so only an idempotent channel may defer work to here.
  virtual Status Flush() { return Status::Ok(); }
};

}  // namespace ennakko
