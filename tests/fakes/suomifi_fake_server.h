// A test double of the Suomi.fi Messages REST API (../shared/reference/suomifi-messages-openapi.yaml)
// with in-memory state, for unit tests (in process) and end-to-end tests (the suomifi_fake binary).
//
// API endpoints, answering as the OpenAPI file says:
//   POST /v1/token {username,password} -> 200 {access_token, token_type:"Bearer", expires_in};
//        400 {reason} on bad credentials. Tokens expire after options.token_lifetime.
//   POST /v1/mailboxes/active {endUsers:[{id}]} (1..10,000) -> 200 {endUsersWithActiveMailbox:[{id}]}
//   POST /v2/messages/electronic (ElectronicMessageRequestBody, every required field checked)
//        -> 200 {messageId}; a reused externalId -> 409 {reason, messageId of the original};
//        an inactive mailbox -> 400 {reason, validationErrors:[{error, errorCode:
//        "MAILBOX_NOT_IN_USE"}]}; any other invalid field -> 400 {reason, validationErrors}.
//   POST /v2/attachments multipart/form-data with one part "file" (a supported content type, at
//        most 10,485,760 bytes in all) -> 201 {attachmentId (uuid)}; no file part -> 400;
//        another content type -> 415; larger -> 413 (the HTTP server's limit).
//   POST /v2/messages (MultichannelMessageRequestBody: the electronic part as above, and paperMail
//        with exactly one attachment that was uploaded here as application/pdf and starts with
//        "%PDF-", recipient.address and sender.address with name, streetAddress, zipCode, city
//        and a two-letter countryCode, the printing booleans, messageServiceType, and
//        printingAndEnvelopingService.postiMessaging {username (6), password (4),
//        contactDetails.email}) -> 200 {messageId}, delivered electronically when the mailbox is
//        active, else as paper mail ("Paper mail created" event); 409 on a reused externalId
//        (shared with /v2/messages/electronic); any invalid field -> 400 {reason, validationErrors}.
//   GET  /v2/events?continuationToken=T -> 200 {events:[...], continuationToken} with at most
//        options.events_page_size (1000) "Electronic message created" events a page; an empty page
//        when there is nothing new (the token then stays where it was).
// Every call but /v1/token needs "Authorization: Bearer <token>": missing, unknown or expired ->
// 401 {reason}.
//
// Test-only admin endpoints (no auth):
//   GET  /_test/messages      -> [{messageId, externalId, recipientId, serviceId, title, body,
//                                  bodyFormat}] in arrival order
//        plus {endpoint: "electronic"|"multichannel", deliveredAs: "electronic"|"paper"} and, for
//        multichannel, paperMail {attachmentId, recipientAddress{...}, senderAddress{...},
//        createAddressPage, colorPrinting, twoSidedPrinting}
//   GET  /_test/attachments   -> [{attachmentId, filename, contentType, size, used}]
//   GET  /_test/attachment?id=ID -> the uploaded bytes with their content type; 404 if unknown
//   GET  /_test/stats         -> {tokenRequests, messageRequests, tokensIssued,
//                                  mailboxRequests, attachmentRequests, multichannelRequests}
//   POST /_test/faults {status, count, path?, delayMs?, retryAfter?} -> 204: the next `count` API
//        requests (to `path` only, when given) wait delayMs and then, when status != 0, answer
//        `status` with {reason:"injected fault"} instead of being served (status 0 = slow only).
//        With retryAfter, the answer carries a Retry-After header (and retryAfter in its body).
//        Faults queue up in order. A connection cannot be dropped (engine/api/http_server.h):
//        use a delay beyond the client's timeout instead.
//   POST /_test/expire-tokens -> 204: every token issued so far answers 401 from now on.
//   --- delivery events (replies branch) ---
//   POST /_test/events {messageId, type, postiTrackingCode?} -> 204: appends an event of `type`
//        ("Electronic message read", "Paper mail created", "Posti: returned to sender", ...) for
//        the message, with its serviceId and externalId, to the /v2/events feed; 404 for an
//        unknown messageId.
//
// Active mailboxes (options.mailboxes): kOddIndividualNumber (a valid identity code whose
// individual number is odd), kAll, kNone, or kList (exactly options.active_ids).
//
// Identity codes are never logged (HttpServer logs method, path and status only).
// Thread-safety: all state is behind one mutex; the accessors may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/base/status.h"

namespace ennakko {

struct SuomiFiFakeOptions {
  // Where to listen; port 0 picks a free one (read it back with port()).
  std::string address = "127.0.0.1";
  uint16_t port = 0;
  // The only credentials /v1/token accepts.
  std::string username = "ennakko";
  std::string password = "test-password";
  // How long an issued token is accepted.
  std::chrono::seconds token_lifetime{3600};
  // Who has an active mailbox.
  enum class Mailboxes { kOddIndividualNumber, kAll, kNone, kList };
  Mailboxes mailboxes = Mailboxes::kOddIndividualNumber;
  std::set<std::string> active_ids;  // for kList
  // The most events one /v2/events page holds (the real API: 1000).
  size_t events_page_size = 1000;
  // I/O threads: injected delays block one each.
  int threads = 4;
};

// What a multichannel message asked Posti to print and where to.
struct SuomiFiFakePaperMail {
  std::string attachment_id;
  // recipient.address and sender.address: name, streetAddress, zipCode, city, countryCode.
  std::string recipient_name, recipient_street, recipient_zip, recipient_city, recipient_country;
  std::string sender_name, sender_street, sender_zip, sender_city, sender_country;
  bool create_address_page = false, color_printing = false, two_sided_printing = false;
};

struct SuomiFiFakeMessage {
  int64_t message_id = 0;
  std::string external_id, recipient_id, service_id, title, body, body_format;
  std::string endpoint = "electronic";       // "electronic" or "multichannel"
  std::string delivered_as = "electronic";   // "electronic" or "paper"
  std::optional<SuomiFiFakePaperMail> paper = std::nullopt;  // multichannel messages only
};

struct SuomiFiFakeAttachment {
  std::string id, filename, content_type, bytes;
  bool used = false;  // referred to by an accepted message
};

struct SuomiFiFakeFault {
  int status = 500;          // 0: only delay
  int count = 1;             // how many matching requests it applies to
  std::string path;          // empty: any API path (not /_test/*)
  int delay_ms = 0;          // wait before answering
  int retry_after_s = 0;     // stated in a 429's body
};

struct SuomiFiFakeStats {
  int token_requests = 0;    // POST /v1/token calls (successful or not)
  int message_requests = 0;  // POST /v2/messages/electronic calls that reached the handler
  int tokens_issued = 0;
  int mailbox_requests = 0;  // POST /v1/mailboxes/active calls that reached the handler
  int attachment_requests = 0;    // POST /v2/attachments calls that reached the handler
  int multichannel_requests = 0;  // POST /v2/messages calls that reached the handler
};

class SuomiFiFake {
 public:
  explicit SuomiFiFake(SuomiFiFakeOptions options = {});
  ~SuomiFiFake();
  SuomiFiFake(const SuomiFiFake&) = delete;
  SuomiFiFake& operator=(const SuomiFiFake&) = delete;

  Status Start();
  uint16_t port() const;
  std::string base_url() const;  // http://127.0.0.1:PORT
  void Stop();

  // The same as the admin endpoints, for in-process tests.
  std::vector<SuomiFiFakeMessage> messages() const;
  std::vector<SuomiFiFakeAttachment> attachments() const;
  SuomiFiFakeStats stats() const;
  void InjectFault(SuomiFiFakeFault fault);
  void ExpireTokens();

  // --- delivery events (replies branch) ---
  // Appends an event for a message it holds, as POST /_test/events does. NotFound for an unknown id.
  Status AddEvent(int64_t message_id, const std::string& type, const std::string& posti_tracking_code = {});

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ennakko
