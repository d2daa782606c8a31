// The interface every delivery channel implements (file, SMS through Kannel, email, Suomi.fi).
//
// The dispatcher knows channels only through this header; engine/app wires concrete ones. A
// Channel's Send is blocking, bounded by the channel's own timeouts, and must be thread-safe.
// Messages carry personal data (that is their point); a channel must never log them: log the
// outbox id and the recipient's pseudonym only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "engine/base/status.h"

namespace ennakko {

// A postal address to print a letter to (the fields of Suomi.fi's Address, which every paper
// mail needs: the sender supplies it, Suomi.fi has no address lookup). Personal data: never logged.
struct MailingAddress {
  std::string name;            // the addressee as printed, e.g. "Anna Virtanen"
  std::string street_address;  // "Mannerheimintie 1 A 2"
  std::string zip_code;        // "00100"
  std::string city;            // the post office, "HELSINKI"
  std::string country_code = "FI";  // ISO 3166 alpha-2
};

struct Recipient {
  std::string pseudonym;  // HMAC pseudonym: the only identifier allowed in logs
  std::string hetu;       // identity code: Suomi.fi recipient id; never logged
  std::string language;   // fi | sv | en
  std::optional<std::string> phone;  // E.164, e.g. +358401234567
  std::optional<std::string> email;
  bool address_protected = false;    // turvakielto: no postal address exists for us
  // Where a paper letter goes. Never set while address_protected (the store does not even hold
  // the address then); a paper channel refuses a protected recipient even if it were set.
  std::optional<MailingAddress> postal_address;
};

// Why `recipient` cannot be sent a paper letter — "address protected" (turvakielto: never print
// or send an address), "no postal address" — or empty when a letter can be posted. Every paper
// channel's CannotReach and Send use this, so the reasons are the same everywhere.
inline std::string PaperBlocked(const Recipient& recipient) {
  if (recipient.address_protected) return "address protected";
  if (!recipient.postal_address) return "no postal address";
  const MailingAddress& a = *recipient.postal_address;
  if (a.name.empty() || a.street_address.empty() || a.zip_code.empty() || a.city.empty() ||
      a.country_code.size() != 2) {
    return "postal address incomplete";
  }
  return {};
}

struct OutgoingMessage {
  int64_t outbox_id = 0;
  std::string idempotency_key;  // stable across retries and restarts; Suomi.fi externalId
  std::string service;
  Recipient recipient;
  std::string title;  // subject line / message title
  std::string body;   // plain text, already rendered in the recipient's language
  // An HTML rendering of the body from the service's own HTML template, when it has one; email
  // sends it as the text/html part. Unset: channels that want HTML derive it from `body`
  // (escaped, paragraphs from blank lines). Must say the same as `body`.
  std::optional<std::string> html_body = std::nullopt;
  // The hand-over point (see Channel::marks_handover). The dispatcher sets it to a function that
  // records durably that this message is being handed to the gateway now; it returns false when
  // that record could not be written, and the channel must then abandon the send before the
  // gateway can accept it. Unset in tests and tools: nothing to record.
  std::function<bool()> handover = {};
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
  // A transient failure after the hand-over point with no answer from the gateway (a timeout or
  // a dropped connection after the whole message was written): the gateway may have accepted it.
  // The dispatcher does not send such a message again on a channel without idempotency.
  bool ambiguous = false;
  // A transient failure where the gateway named a wait (HTTP 429 Retry-After): the retry waits at
  // least this long.
  std::optional<std::chrono::milliseconds> retry_after = std::nullopt;

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
  // True when a channel without idempotency calls message.handover() right before the point of
  // no return — the last byte of the request that lets the gateway accept the message (the last
  // byte of Kannel's sendsms request, the end of SMTP's DATA) — and sets SendOutcome::ambiguous
  // for a failure after it. Then a crash, or a timeout, can be resolved without a duplicate: not
  // handed over means the gateway never got a complete message (send again); handed over means
  // it may have (never send again; recorded as sent, unconfirmed). A channel that is neither
  // idempotent nor marks the hand-over leaves a send cut off by a crash in doubt for an operator.
  virtual bool marks_handover() const { return false; }
  // For a channel that marks the hand-over and whose gateway reports every message it had (Kannel
  // with delivery reports: the SMS centre's acceptance, delivery or refusal): how long to wait for
  // such a report after a send cut off past the hand-over. A report proves the gateway had the
  // message; none in that time means it never did, and the message is sent again
  // (Outbox::ResendUnconfirmed). Empty: no reports, so such a send counts as sent, unconfirmed.
  virtual std::optional<std::chrono::seconds> receipt_within() const { return std::nullopt; }
  // Empty when the recipient can be reached on this channel; otherwise why not ("no phone").
  virtual std::string CannotReach(const Recipient& recipient) const = 0;
  virtual SendOutcome Send(const OutgoingMessage& message) = 0;
  // True for a channel that may print the message and post it to recipient.postal_address (the
  // "paper" channel: Suomi.fi multichannel with a PDF letter). Channel choice must never pick
  // such a channel for an address-protected recipient (turvakielto). Belt and braces: a paper
  // channel's CannotReach answers PaperBlocked(recipient) ("address protected") and its Send
  // refuses such a recipient with Permanent("address protected") before any call.
  virtual bool delivers_paper() const { return false; }

  // Makes the sends accepted since the last call durable; the dispatcher calls it once per batch,
  // after the batch's sends and before it records them as sent. Most channels hand each message
  // to a gateway in Send and have nothing to do. An error turns the batch's sends on this channel
  // into transient failures (retried), so only an idempotent channel may defer work to here.
  virtual Status Flush() { return Status::Ok(); }
};

}  // namespace ennakko
