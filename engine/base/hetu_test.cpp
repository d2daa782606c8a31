#include "engine/base/hetu.h"

#include <catch2/catch.hpp>

using namespace ennakko;

TEST_CASE("identity codes from the DVV specification parse", "[hetu]") {
  struct Case { const char* code; int year; int number; };
  // The published examples with test-range individual numbers (900-999).
  auto c = GENERATE(Case{"010594Y9032", 1994, 903}, Case{"020594X903P", 1994, 903},
                    Case{"010516B903X", 2016, 903});
  auto r = ParseHetu(c.code);
  INFO(c.code);
  REQUIRE(r.ok());
  CHECK(r->birth_date.year() == c.year);
  CHECK(r->individual_number == c.number);
  CHECK(r->synthetic());
}

TEST_CASE("century sign is part of the identity but not of the checksum", "[hetu]") {
  auto old_sign = ParseHetu("010594-9032");
  auto new_sign = ParseHetu("010594Y9032");
  REQUIRE(old_sign.ok());
  REQUIRE(new_sign.ok());
  CHECK(old_sign->birth_date == new_sign->birth_date);
  CHECK(old_sign->code != new_sign->code);
}

TEST_CASE("every century sign maps to its century", "[hetu]") {
  for (char s : std::string("-YXWVU")) {
    std::string code = std::string("010594") + s + "9032";
    auto r = ParseHetu(code);
    INFO(code);
    REQUIRE(r.ok());
    CHECK(r->birth_date.year() == 1994);
  }
  for (char s : std::string("ABCDEF")) {
    Date d = Date::FromYmd(2016, 5, 1);
    std::string code = std::string("010516") + s + "903" + HetuCheckChar(d, 903);
    auto r = ParseHetu(code);
    INFO(code);
    REQUIRE(r.ok());
    CHECK(r->birth_date.year() == 2016);
  }
  Date d = Date::FromYmd(1894, 5, 1);
  auto r = ParseHetu(std::string("010594+903") + HetuCheckChar(d, 903));
  REQUIRE(r.ok());
  CHECK(r->birth_date.year() == 1894);
}

TEST_CASE("malformed identity codes are rejected with a reason", "[hetu]") {
  auto bad = GENERATE(as<std::string>{}, "010594Y9033",  // wrong check character
                      "300294-9032",                      // 30 February
                      "010594Z9032",                      // unknown century sign
                      "010594Y903",                       // too short
                      "01a594Y9032",                      // non-digit
                      "010594Y0012");                     // individual number 001
  auto r = ParseHetu(bad);
  INFO(bad);
  CHECK_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  // The reason never repeats the code itself.
  CHECK(r.status().message().find(bad) == std::string::npos);
}

TEST_CASE("MakeHetu produces codes that parse back", "[hetu]") {
  for (int sign = 0; sign < 6; ++sign) {
    for (Date d : {Date::FromYmd(1999, 12, 31), Date::FromYmd(2020, 2, 29), Date::FromYmd(1850, 1, 1)}) {
      for (int n : {900, 901, 998, 999}) {
        std::string code = MakeHetu(d, n, sign);
        auto r = ParseHetu(code);
        INFO(code);
        REQUIRE(r.ok());
        CHECK(r->birth_date == d);
        CHECK(r->individual_number == n);
      }
    }
  }
}
