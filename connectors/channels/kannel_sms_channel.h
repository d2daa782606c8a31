// A delivery channel that sends SMS through a Kannel gateway's sendsms HTTP interface.
//
// Send issues one GET to sendsms with username, password, to, from, text (UTF-8, charset=UTF-8),
// coding (0 = GSM-7 when the text is representable, else 2 = UCS-2), max-messages, and, when a
// dlr_url is configured, dlr-mask=31 with a signed per-message dlr-url (see dlr_url below). The SMS carries the body
// only (the title is for channels with a subject line). Outcomes: 202, or 200 whose reply says
// "Accepted"/"Sent" -> Sent; 5xx, a refused connection or a timeout -> Transient; 4xx (403 bad
// credentials, 400 missing receiver) -> Permanent with Kannel's reply text as detail; a text
// needing more parts than max_messages -> Permanent without calling Kannel.
//
// Kannel has no idempotency key, so idempotent() is false: a send left in doubt (a timeout after
// the request went out) may have been delivered. Never logs phone numbers, texts or the URL query.
//
// Thread-safe: Send keeps no state between calls (one HTTP connection per send).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "engine/base/status.h"
#include "engine/dispatch/channel.h"

namespace ennakko {

struct KannelSmsOptions {
  // The sendsms endpoint, e.g. http://127.0.0.1:13013/cgi-bin/sendsms (http only for now).
  std::string sendsms_url;
  // The sendsms-user credentials from kannel.conf.
  std::string username, password;
  // The sender shown to the resident (a short code or name); empty leaves it to Kannel's
  // global-sender.
  std::string from;
  // Optional delivery-report callback URL (the daemon's /api/v1/sms/dlr). Each message asks for
  // dlr-mask 31 (delivered, not delivered, queued, accepted and refused by the SMSC) with
  // dlr-url = dlr_url + "?id=<outbox id>&sig=<KannelDlrSignature>&status=%d"; Kannel fills in
  // %d. Empty: no delivery reports asked.
  std::string dlr_url;
  // The key of the `sig` above (Kannel cannot send a bearer token). Required with dlr_url.
  std::string dlr_key;
  // With dlr_url: how long an SMS cut off after its hand-over (a crash, a timeout) waits for any
  // delivery report before it is sent again (Channel::receipt_within). Kannel's smsbox must retry
  // delivery-report calls the daemon missed while it was down (http-request-retry,
  // http-queue-delay; docs/operator-guide.md). Zero: never sent again (sent, unconfirmed).
  std::chrono::seconds receipt_wait{0};
  // The most SMS parts one message may use (concatenated SMS); longer texts fail permanently.
  int max_messages = 3;
  // The bound on one sendsms call (connect + request + reply).
  std::chrono::milliseconds timeout{5000};
};

// The signature a delivery-report URL carries for an outbox row: the first 32 hex characters of
// HMAC-SHA-256(key, "ennakko-dlr-v1|<id>"). The endpoint recomputes and compares it.
std::string KannelDlrSignature(std::string_view key, int64_t outbox_id);

class KannelSmsChannel : public Channel {
 public:
  explicit KannelSmsChannel(KannelSmsOptions options);

  // Checks options for mistakes worth failing a config load for: an unparsable or non-http
  // sendsms_url, an empty username, max_messages < 1, a non-positive timeout.
  static Status ValidateOptions(const KannelSmsOptions& options);

  std::string_view name() const override { return "sms"; }
  bool idempotent() const override { return false; }
  bool marks_handover() const override { return true; }  // see channel.h
  std::optional<std::chrono::seconds> receipt_within() const override {
    if (options_.dlr_url.empty() || options_.receipt_wait.count() <= 0) return std::nullopt;
    return options_.receipt_wait;
  }
  std::string CannotReach(const Recipient& recipient) const override;
  SendOutcome Send(const OutgoingMessage& message) override;

 private:
  KannelSmsOptions options_;
};

}  // namespace ennakko
