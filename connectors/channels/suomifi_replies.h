// Helpers shared by the Suomi.fi channels (suomifi_channel.cc, suomifi_paper_channel.cc): request
// parts built exactly as the OpenAPI file's schemas say, and the reading of replies. Internal to
// connectors/channels; not a public interface.
//
// Replies are read leniently: unknown fields are ignored (the API may add fields at any time),
// and a reply that is not the expected JSON yields empty values rather than an error.
// Details are bounded and scrubbed of identity-code-shaped text, so they may be logged.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "connectors/http/http_client.h"
#include "engine/dispatch/channel.h"

namespace ennakko::suomifi {

// Code points in UTF-8 text: the API's maxLength counts characters.
size_t Characters(std::string_view s);

// `text` with anything shaped like an identity code replaced by "<id>".
std::string Scrub(std::string text);

// "suomifi 400: reason [CODE (error); ...]" from an error reply ({reason, validationErrors?});
// unknown shapes give the status alone. Bounded and scrubbed.
std::string ReplyDetail(const HttpClientResult& reply);

// True when the reply's validationErrors hold `code` (e.g. MAILBOX_NOT_IN_USE).
bool HasErrorCode(const HttpClientResult& reply, std::string_view code);

// True for the statuses the API asks to be retried (5xx) and for rate limiting (429).
inline bool Retryable(int status) { return status == 429 || status >= 500; }

// The messageId of a 200 or 409 reply, as text; empty when the reply has none.
std::string MessageId(const HttpClientResult& reply);

// messages.api.rest.v2.ElectronicPart for `m`: title, body as Text, Normal, no replies, visible
// to anyone with access, no attachments, default notifications.
nlohmann::json ElectronicPart(const OutgoingMessage& m);

// A JSON document as UTF-8 text; invalid UTF-8 in a string is replaced, never thrown on.
std::string Dump(const nlohmann::json& j);

// Why the message's texts or key would be refused by the API (empty, or over 256 / 40,000
// characters; a key outside 1..256), or empty when they are acceptable.
std::string InvalidTexts(const OutgoingMessage& m);

}  // namespace ennakko::suomifi
