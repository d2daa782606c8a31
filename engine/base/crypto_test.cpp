#include "engine/base/crypto.h"

#include <catch2/catch.hpp>

using namespace ennakko;

TEST_CASE("SHA-256 and HMAC-SHA-256 match published test vectors", "[crypto]") {
  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  CHECK(HmacSha256Hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(ConstantTimeEquals("token", "token"));
  CHECK_FALSE(ConstantTimeEquals("token", "tokem"));
  CHECK_FALSE(ConstantTimeEquals("token", "token2"));
}

#include "engine/base/metrics.h"

TEST_CASE("metrics render in Prometheus text format", "[metrics]") {
  MetricsRegistry m;
  m.Describe("ennakko_offers", "gauge", "Offers by state.");
  m.Set("ennakko_offers", {{"state", "sent"}, {"service", "preschool-offer"}}, 3);
  m.Add("ennakko_offers", {{"service", "preschool-offer"}, {"state", "sent"}}, 2);
  m.Add("ennakko_residents", {}, 7);
  std::string text = m.RenderText();
  CHECK(text.find("# TYPE ennakko_offers gauge\n") != std::string::npos);
  CHECK(text.find("ennakko_offers{service=\"preschool-offer\",state=\"sent\"} 5\n") != std::string::npos);
  CHECK(text.find("ennakko_residents 7\n") != std::string::npos);
  CHECK(m.Get("ennakko_offers", {{"state", "sent"}, {"service", "preschool-offer"}}) == 5);
}
