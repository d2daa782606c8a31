#include "engine/dispatch/sms_reply.h"

#include <catch2/catch.hpp>

#include "engine/dispatch/dispatcher.h"

using namespace ennakko;
using K = SmsAnswer::Kind;

TEST_CASE("yes and no in Finnish, Swedish and English, in any case", "[replies]") {
  struct Case {
    const char* text;
    K kind;
  };
  const Case cases[] = {
      {"KYLLÄ", K::kAccept}, {"kyllä", K::kAccept}, {"Kyllä!", K::kAccept}, {"KYLLA", K::kAccept},
      {"kylla", K::kAccept}, {"JA", K::kAccept},    {"ja", K::kAccept},     {"Yes", K::kAccept},
      {"yEs.", K::kAccept},  {"  kyllä  kiitos", K::kAccept},
      {"EI", K::kDecline},   {"ei", K::kDecline},   {"Nej", K::kDecline},   {"NO", K::kDecline},
      // "ja" and "no" are Finnish words too: they answer only alone or with the code.
      {"no thanks", K::kDecline}, {"No kyllä", K::kUnrecognised},
      {"Mietin ja vastaan myöhemmin", K::kUnrecognised}, {"ei kiitos", K::kDecline},
      {"STOP", K::kObjection}, {"stop", K::kObjection},
      {"", K::kUnrecognised}, {"hello", K::kUnrecognised}, {"kyllälä", K::kUnrecognised},
      {"K7Q", K::kUnrecognised}, {"yess", K::kUnrecognised}, {"\xff\xfe", K::kUnrecognised},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK(ParseSmsAnswer(c.text).kind == c.kind);
  }
}

TEST_CASE("the reply code after the answer names the offer", "[replies]") {
  const int64_t id = 123456;
  const std::string code = ReplyCode(id);
  auto a = ParseSmsAnswer("KYLLÄ " + code);
  CHECK(a.kind == K::kAccept);
  REQUIRE(a.offer_id);
  CHECK(*a.offer_id == id);
  std::string lower = code;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  CHECK(ParseSmsAnswer("nej " + lower + ".").offer_id == id);
  CHECK_FALSE(ParseSmsAnswer("kyllä kiitos").offer_id);  // not a code: I is not in the alphabet
  CHECK_FALSE(ParseSmsAnswer("kyllä").offer_id);
  for (int64_t n : {0LL, 1LL, 31LL, 32LL, 1023LL, 99999999LL}) CHECK(ParseReplyCode(ReplyCode(n)) == n);
  CHECK_FALSE(ParseReplyCode("O0"));
  CHECK_FALSE(ParseReplyCode(""));
  CHECK_FALSE(ParseReplyCode("ABCDEFGHJKLMN"));  // too long
}

TEST_CASE("case folding covers the Nordic and Latin letters", "[replies]") {
  CHECK(FoldCase("KYLLÄ") == "kyllä");
  CHECK(FoldCase("ÅÄÖ ÉÜ Š Ž") == "åäö éü š ž");
  CHECK(FoldCase("ß×") == "ß×");
  CHECK(FoldCase("Добрый") == "Добрый");  // other scripts pass through unchanged
}

TEST_CASE("phone numbers as Kannel reports them become E.164", "[replies]") {
  CHECK(NormalizePhone("+358401234567") == "+358401234567");
  CHECK(NormalizePhone("358401234567") == "+358401234567");
  CHECK(NormalizePhone("00358401234567") == "+358401234567");
  CHECK(NormalizePhone("040 123 4567") == "+358401234567");
  CHECK(NormalizePhone("+358 40-123 4567") == "+358401234567");
  CHECK(NormalizePhone("abc").empty());
}
