#include "engine/audit/pseudonym.h"

#include <utility>

#include "engine/base/crypto.h"

namespace ennakko {

namespace {
// 96 bits: collisions stay negligible for any plausible number of residents (birthday bound
// around 2^48), while the id stays short enough to read in a log line.
constexpr size_t kPseudonymHexChars = 24;
}  // namespace

Pseudonymizer::Pseudonymizer(std::string key) : key_(std::move(key)) {}

std::string Pseudonymizer::Of(std::string_view identity_code) const {
  return "p-" + HmacSha256Hex(key_, identity_code).substr(0, kPseudonymHexChars);
}

}  // namespace ennakko
