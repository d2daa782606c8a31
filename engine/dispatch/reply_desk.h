// The reply desk: what the daemon does with a resident's SMS answer, a click on a signed reply
// link and a Kannel delivery report. Plain inputs and outputs (no HTTP types): engine/app maps
// its HTTP routes to these calls after checking their secrets.
//
// SMS (HandleSms): the sender's number finds the residents with that phone and their open offers
// (sent, delivered, reminded, in doubt). An answer with a code answers that offer; without a code
// it answers the only open offer; several open offers and no code, an unknown code, an
// unrecognised text or no open offer get a helpful SMS in the resident's language instead of
// silence. Every SMS received is kept in `replies` (its meaning, never its text or number).
//
// Links (HandleLinkGet/Post): GET never changes anything (mail scanners prefetch links): it shows
// the offer and a form. POST records the answer. A forged or malformed token, an expired link,
// an answered offer (a used link) and a closed offer each get their own clear page and change
// nothing.
//
// Not thread-safe: one ReplyDesk per Db; the caller serialises calls.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "engine/dispatch/offer_lifecycle.h"
#include "engine/dispatch/reply_link.h"

namespace ennakko {

struct ReplyDeskOptions {
  std::string link_key;         // HMAC key of reply links (config secret)
  std::string link_base_url;    // e.g. https://ennakko.example.fi/reply: the page's public URL
  std::chrono::hours link_lifetime{24 * 60};  // a link's expiry counted from when it is rendered
};

struct ReplyPage {
  int status = 200;
  std::string html;
};

class ReplyDesk {
 public:
  ReplyDesk(ReplyDeskOptions options, Db& db, const Clock& clock, AuditFn audit, PseudonymFn pseudonym,
            RuleLookupFn rule_for);

  // The SMS to send back to `phone` (as Kannel reports it) for its message `text`.
  std::string HandleSms(std::string_view phone, std::string_view text);

  // A Kannel delivery report for an outbox row: %d status 1 delivered, 2 not delivered, 16 not
  // accepted by the SMSC -> recorded (delivered / failed); 4 queued and 8 accepted by the SMSC
  // -> kept as a delivery row only. NotFound for an unknown row; FailedPrecondition when refused.
  Status HandleDeliveryReport(int64_t outbox_id, int kannel_status);

  ReplyPage HandleLinkGet(std::string_view token);
  // `answer`: "accept" or "decline".
  ReplyPage HandleLinkPost(std::string_view token, std::string_view answer);

 private:
  std::string TitleOf(const std::string& service, const std::string& language) const;
  std::string Language(const OfferRecord& offer) const;

  const ReplyDeskOptions options_;
  Db& db_;
  const Clock& clock_;
  AuditFn audit_;
  RuleLookupFn rule_for_;
  OfferLifecycle lifecycle_;
};

// The reply link of an offer for a message rendered now (the {{reply_link}} placeholder).
std::string ReplyLinkFor(const ReplyDeskOptions& options, int64_t offer_id, std::chrono::system_clock::time_point now);

}  // namespace ennakko
