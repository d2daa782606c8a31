// A delivery channel that sends electronic-only messages through the Suomi.fi Messages REST API
// (POST /v2/messages/electronic; see /work/shared/reference/suomifi-messages-openapi.yaml).
//
// Auth: POST /v1/token with username and password gives a bearer token. The token is cached and
// shared by all threads, fetched on first use, renewed shortly before its expires_in runs out,
// and on a 401 renewed once and the request retried once.
//
// Send posts externalId = idempotency_key, recipient.id = hetu, sender.serviceId, and
// electronic{title, body, bodyFormat "Text", Normal, no replies, default notifications}.
// Outcomes: 200, or 409 (the externalId was used before: the message is already there) -> Sent
// with the messageId as gateway_ref; 400 with errorCode MAILBOX_NOT_IN_USE -> Permanent "no active
// Suomi.fi mailbox" (the dispatcher falls back to the next channel); 5xx, 429, a refused
// connection or a timeout -> Transient; any other 4xx -> Permanent with Suomi.fi's reason and
// error codes. Auth failures are Transient: a 400 from /v1/token (wrong credentials) or a 401 on
// the retry with a fresh token says our account or the gateway is broken, not the message, and
// every message would meet it; retrying until an operator fixes it beats failing them all.
// A title or body the API would refuse (empty, or over 256 / 40,000 characters) or an
// idempotency key outside 1..256 characters -> Permanent without calling Suomi.fi.
//
// Paper mail (multichannel POST /v2/messages with a PDF letter) is the "paper" channel,
// SuomiFiPaperChannel (suomifi_paper_channel.h), which shares this channel's token.
// Not done here: events polling (the replies work), TLS (HttpCall is http:// only: reach the
// API through a local X-Road security server or proxy).
//
// Never logs identity codes, titles or bodies: the outbox id and pseudonym only; reasons from
// Suomi.fi are scrubbed of identity-code-shaped text before they become a detail.
//
// Thread-safe: the token cache is behind a mutex; each call uses its own connection.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/status.h"
#include "engine/dispatch/channel.h"

namespace ennakko {

struct HttpClientResult;

struct SuomiFiOptions {
  // The API root without a trailing slash, e.g. http://127.0.0.1:8443 (http only for now).
  std::string base_url;
  // The web service account's credentials for /v1/token.
  std::string username, password;
  // Our service's id at Suomi.fi Messages (sender.serviceId, 1..64 characters).
  std::string service_id;
  // The bound on one HTTP call (connect + request + reply); a send may make up to four calls
  // (token, message, token again, message again).
  std::chrono::milliseconds timeout{10000};
};

class SuomiFiChannel : public Channel {
 public:
  explicit SuomiFiChannel(SuomiFiOptions options);

  // Checks options for mistakes worth failing a config load for: an unparsable or non-http
  // base_url, an empty username or password, a service_id outside 1..64 characters, a
  // non-positive timeout.
  static Status ValidateOptions(const SuomiFiOptions& options);

  std::string_view name() const override { return "suomifi"; }
  bool idempotent() const override { return true; }  // externalId: a reuse answers 409
  // "no identity code" when the hetu is empty; mailbox activity is not checked here (it needs a
  // call: see ActiveMailboxes).
  std::string CannotReach(const Recipient& recipient) const override;
  SendOutcome Send(const OutgoingMessage& message) override;

  // The subset of `ids` (identity codes) that have an active Suomi.fi mailbox, in their order,
  // asked in batches of 10,000 (POST /v1/mailboxes/active). Empty `ids`: empty, no call.
  // Unavailable on 5xx, 429, connection errors and timeouts; Permanent on other 4xx.
  Result<std::vector<std::string>> ActiveMailboxes(const std::vector<std::string>& ids);

  // POSTs `body` to `path` (e.g. "/v2/attachments") with the shared bearer token: renews the
  // token and retries once on a 401 (a second 401 is returned as the result). Errors: the token
  // could not be had (Unavailable; InvalidArgument for a bad URL), or the connection failed.
  // For the Suomi.fi channels in this folder.
  Result<HttpClientResult> AuthorizedPost(const std::string& path, const std::string& body,
                                          const std::string& content_type = "application/json");
  const SuomiFiOptions& options() const { return options_; }

 private:
  // The cached token, fetched when missing or about to expire. REQUIRES: mu_ not held.
  Result<std::string> Token();
  // Drops the cached token if it is still `rejected` (another thread may have renewed it).
  void ForgetToken(const std::string& rejected);

  // Constant after construction.
  const SuomiFiOptions options_;

  std::mutex mu_;
  // Protected by mu_ (held across the token request so that only one thread fetches):
  std::string token_;
  std::chrono::steady_clock::time_point token_renew_at_;
};

}  // namespace ennakko
