// What we say back to a resident who answered an offer, in their language (fi, sv, en; anything
// else gets fi): the SMS that answers an SMS reply, and the small HTML pages behind a signed
// reply link (reply_link.h). The pages are plain HTML forms that work without JavaScript; every
// value put into them is HTML-escaped. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ennakko {

// One open offer as an SMS answer lists it: "K7Q (Esiopetuspaikka, Aino)".
struct OfferLabel {
  std::string code;
  std::string service_title;
  std::string child_first_name;
};

enum class SmsReplyText {
  kAccepted,      // labels[0]: the offer answered
  kDeclined,      // labels[0]
  kObjection,     // STOP: recorded for a person to handle
  kUnrecognised,  // labels: the open offers (may be empty)
  kAmbiguous,     // several open offers and no code; labels: them
  kUnknownCode,   // code: what was typed; labels: the open offers
  kNoOpenOffer,   // nothing this number could answer
  kTryAgain,      // the answer could not be recorded just now
};

std::string SmsReply(std::string_view language, SmsReplyText kind, const std::vector<OfferLabel>& labels,
                     std::string_view code = {});

struct OfferPage {
  std::string language;
  std::string service_title;
  std::string child_first_name;
  std::string period;
  std::string token;        // put back into the form
  bool may_accept = true;   // the link allows accepting
  bool may_decline = true;  // the link allows declining
};

// GET: the offer and an accept/decline form that POSTs to the same URL.
std::string RenderOfferPage(const OfferPage& page);

enum class ReplyNotice {
  kAccepted,       // POST recorded an acceptance
  kDeclined,       // POST recorded a refusal
  kAlreadyAnswered,
  kExpiredLink,    // the link's own expiry passed
  kClosedOffer,    // the offer expired, was cancelled or could not be delivered
  kInvalidLink,    // forged, malformed or for an offer we do not have
  kBadRequest,     // a POST without a valid answer
  kUnavailable,    // the store is busy: try again
};

// A page that says one thing; `detail` (e.g. "accepted") is shown for kAlreadyAnswered. An empty
// language (a link we cannot tie to an offer) says it in fi, sv and en.
std::string RenderNoticePage(std::string_view language, ReplyNotice notice, std::string_view detail = {});

std::string HtmlEscape(std::string_view text);

}  // namespace ennakko
