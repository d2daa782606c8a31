// Signed one-click reply links for email and Suomi.fi messages.
//
// A token names an offer, what the link may do and until when:
//   "1.<offer id>.<r|a|d>.<expiry, Unix seconds>.<signature>"
// where r = respond (the page offers both answers), a = accept only, d = decline only, and the
// signature is the first 32 hex characters (128 bits) of HMAC-SHA-256(key, "ennakko-link-v1|" +
// the fields). Only URL-safe characters are used. A token proves only that we issued it: whether
// the offer is still open (not answered, expired or cancelled) is the store's to say, which is
// what makes a used link refused. Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "engine/base/status.h"

namespace ennakko {

enum class LinkAction { kRespond, kAccept, kDecline };

struct LinkToken {
  int64_t offer_id = 0;
  LinkAction action = LinkAction::kRespond;
  int64_t expires_unix = 0;  // seconds since 1970-01-01 UTC
};

// REQUIRES: key is the secret from config (at least 16 bytes).
std::string SignLinkToken(std::string_view key, const LinkToken& token);

// The token's contents when its signature is ours, whether or not it has expired; InvalidArgument
// when malformed or forged.
Result<LinkToken> ParseSignedLinkToken(std::string_view key, std::string_view token);

// The token's contents when its signature is ours and it has not expired at `now`.
// InvalidArgument: malformed or forged (wrong signature); FailedPrecondition: expired.
Result<LinkToken> VerifyLinkToken(std::string_view key, std::string_view token,
                                  std::chrono::system_clock::time_point now);

}  // namespace ennakko
