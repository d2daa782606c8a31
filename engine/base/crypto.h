// Hashing primitives (OpenSSL): SHA-256 and HMAC-SHA-256, returned as lower-case hex.
// Stateless and thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace ennakko {

std::string Sha256Hex(std::string_view data);
std::string HmacSha256Hex(std::string_view key, std::string_view data);
// Constant-time comparison for secrets such as bearer tokens.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace ennakko
