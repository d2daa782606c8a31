#include "engine/base/date.h"

#include <catch2/catch.hpp>

using namespace ennakko;
namespace chr = std::chrono;

TEST_CASE("dates parse, print and reject impossible days", "[date]") {
  auto d = Date::Parse("2024-02-29");
  REQUIRE(d);
  CHECK(d->ToString() == "2024-02-29");
  CHECK(d->year() == 2024);
  CHECK_FALSE(Date::Parse("2023-02-29"));
  CHECK_FALSE(Date::Parse("2023-13-01"));
  CHECK_FALSE(Date::Parse("2023-1-01"));
  CHECK(Date::Parse("1970-01-01")->days == 0);
}

TEST_CASE("age at a date: birthdays, year ends and leap days", "[date]") {
  struct Case { const char* birth; const char* at; int age; };
  auto c = GENERATE(Case{"2020-06-15", "2026-06-14", 5}, Case{"2020-06-15", "2026-06-15", 6},
                    Case{"2020-12-31", "2026-12-31", 6}, Case{"2020-12-31", "2027-01-01", 6},
                    Case{"2020-02-29", "2026-02-28", 5}, Case{"2020-02-29", "2026-03-01", 6},
                    Case{"2020-02-29", "2028-02-29", 8});
  INFO(c.birth << " at " << c.at);
  CHECK(AgeAt(*Date::Parse(c.birth), *Date::Parse(c.at)) == c.age);
}

TEST_CASE("today is the date in Helsinki, not in UTC", "[date]") {
  // 2026-11-22 22:30 UTC is already 23 November in Helsinki (EET, UTC+2).
  FakeClock winter(chr::sys_days{chr::year{2026} / 11 / 22} + chr::hours{22} + chr::minutes{30});
  CHECK(winter.Today().ToString() == "2026-11-23");
  // 2026-07-01 20:59 UTC is 23:59 in Helsinki (EEST, UTC+3): still 1 July.
  FakeClock summer(chr::sys_days{chr::year{2026} / 7 / 1} + chr::hours{20} + chr::minutes{59});
  CHECK(summer.Today().ToString() == "2026-07-01");
  FakeClock summer_late(chr::sys_days{chr::year{2026} / 7 / 1} + chr::hours{21});
  CHECK(summer_late.Today().ToString() == "2026-07-02");
}

TEST_CASE("timestamps are RFC 3339 UTC with milliseconds", "[date]") {
  auto t = chr::sys_days{chr::year{2026} / 1 / 2} + chr::hours{3} + chr::milliseconds{4005};
  CHECK(FormatTimestamp(t) == "2026-01-02T03:00:04.005Z");
}
