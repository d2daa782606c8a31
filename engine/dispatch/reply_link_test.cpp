#include "engine/dispatch/reply_link.h"

#include <vector>

#include <catch2/catch.hpp>

using namespace ennakko;
namespace chr = std::chrono;

namespace {
const std::string kKey = "link-key-for-tests-0123456789abcdef";
const auto kNow = chr::sys_days{chr::year{2026} / 11 / 22} + chr::hours{8};
int64_t Unix(chr::system_clock::time_point t) { return chr::duration_cast<chr::seconds>(t.time_since_epoch()).count(); }
}  // namespace

TEST_CASE("a signed link verifies and carries offer, action and expiry", "[replies]") {
  std::string token = SignLinkToken(kKey, {42, LinkAction::kAccept, Unix(kNow + chr::hours(1))});
  CHECK(token.find_first_not_of("0123456789abcdefr.") == std::string::npos);  // URL-safe
  auto t = VerifyLinkToken(kKey, token, kNow);
  REQUIRE(t.ok());
  CHECK(t->offer_id == 42);
  CHECK(t->action == LinkAction::kAccept);
}

TEST_CASE("forged, tampered, malformed and expired links are refused", "[replies]") {
  const int64_t exp = Unix(kNow + chr::hours(1));
  std::string token = SignLinkToken(kKey, {42, LinkAction::kRespond, exp});
  SECTION("another key") {
    CHECK(VerifyLinkToken("another-key-0123456789abcdef", token, kNow).status().code() == StatusCode::kInvalidArgument);
  }
  SECTION("another offer id with the old signature") {
    std::string forged = "1.43" + token.substr(4);
    CHECK(VerifyLinkToken(kKey, forged, kNow).status().code() == StatusCode::kInvalidArgument);
  }
  SECTION("a later expiry with the old signature") {
    std::string forged = token;
    forged.replace(forged.find(std::to_string(exp)), std::to_string(exp).size(), std::to_string(exp + 86400));
    CHECK(VerifyLinkToken(kKey, forged, kNow).status().code() == StatusCode::kInvalidArgument);
  }
  SECTION("a flipped signature character") {
    std::string forged = token;
    forged.back() = forged.back() == '0' ? '1' : '0';
    CHECK_FALSE(VerifyLinkToken(kKey, forged, kNow).ok());
  }
  SECTION("malformed") {
    for (const std::string& bad : std::vector<std::string>{"", ".", "1.2.r.3", "garbage", std::string(500, 'a')}) {
      INFO(bad);
      CHECK(VerifyLinkToken(kKey, bad, kNow).status().code() == StatusCode::kInvalidArgument);
    }
  }
  SECTION("expired") {
    CHECK(VerifyLinkToken(kKey, token, kNow + chr::hours(1)).status().code() == StatusCode::kFailedPrecondition);
    CHECK(ParseSignedLinkToken(kKey, token).ok());  // still ours: the page can name the offer
  }
}
