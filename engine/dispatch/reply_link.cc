#include "engine/dispatch/reply_link.h"

#include <charconv>
#include <vector>

#include <fmt/format.h>

#include "engine/base/crypto.h"

namespace ennakko {

namespace {

char ActionLetter(LinkAction a) {
  switch (a) {
    case LinkAction::kAccept: return 'a';
    case LinkAction::kDecline: return 'd';
    case LinkAction::kRespond: break;
  }
  return 'r';
}

std::string Signature(std::string_view key, std::string_view fields) {
  return HmacSha256Hex(key, fmt::format("ennakko-link-v1|{}", fields)).substr(0, 32);
}

bool ParseInt(std::string_view s, int64_t& out) {
  if (s.empty() || s.size() > 19) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out >= 0;
}

}  // namespace

std::string SignLinkToken(std::string_view key, const LinkToken& t) {
  std::string fields = fmt::format("1.{}.{}.{}", t.offer_id, ActionLetter(t.action), t.expires_unix);
  return fields + "." + Signature(key, fields);
}

Result<LinkToken> VerifyLinkToken(std::string_view key, std::string_view token,
                                  std::chrono::system_clock::time_point now) {
  auto t = ParseSignedLinkToken(key, token);
  if (!t.ok()) return t;
  int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (now_s >= t->expires_unix) return Status::FailedPrecondition("the link has expired");
  return t;
}

Result<LinkToken> ParseSignedLinkToken(std::string_view key, std::string_view token) {
  if (token.size() > 128) return Status::Invalid("link token too long");
  size_t last_dot = token.rfind('.');
  if (last_dot == std::string_view::npos) return Status::Invalid("malformed link token");
  std::string_view fields = token.substr(0, last_dot);
  std::string_view sig = token.substr(last_dot + 1);
  // Check the signature before looking at the fields: a forged token learns nothing more.
  if (!ConstantTimeEquals(sig, Signature(key, fields))) return Status::Invalid("link signature does not match");
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    size_t dot = fields.find('.', start);
    parts.push_back(fields.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (parts.size() != 4 || parts[0] != "1" || parts[2].size() != 1) return Status::Invalid("malformed link token");
  LinkToken t;
  if (!ParseInt(parts[1], t.offer_id) || !ParseInt(parts[3], t.expires_unix)) {
    return Status::Invalid("malformed link token");
  }
  switch (parts[2][0]) {
    case 'r': t.action = LinkAction::kRespond; break;
    case 'a': t.action = LinkAction::kAccept; break;
    case 'd': t.action = LinkAction::kDecline; break;
    default: return Status::Invalid("malformed link token");
  }
  return t;
}

}  // namespace ennakko
