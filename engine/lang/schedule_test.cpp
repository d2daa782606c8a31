#include "engine/lang/schedule.h"

#include <catch2/catch.hpp>

#include "engine/base/date.h"

using namespace ennakko;
namespace chr = std::chrono;

namespace {
chr::system_clock::time_point Utc(int y, unsigned m, unsigned d, int h, int min = 0) {
  return chr::sys_days{chr::year{y} / chr::month{m} / chr::day{d}} + chr::hours{h} + chr::minutes{min};
}
Schedule P(const char* text) {
  std::string error;
  auto s = Schedule::Parse(text, &error);
  INFO(text << ": " << error);
  REQUIRE(s);
  return *s;
}
}  // namespace

TEST_CASE("schedules parse, and bad ones say why", "[schedule]") {
  CHECK(P("daily 08:00").every == Schedule::Every::kDay);
  CHECK(P("weekly FRI 16:30").weekday == 4);
  CHECK(P("monthly 31 07:00").day == 31);
  CHECK(P("yearly 01-10 08:00").month == 1);
  std::string error;
  CHECK_FALSE(Schedule::Parse("yearly 02-30 08:00", &error));
  CHECK(error == "no such day of the year: 02-30");
  CHECK_FALSE(Schedule::Parse("daily 24:00", &error));
  CHECK_FALSE(Schedule::Parse("hourly 08:00", &error));
  CHECK(error == "a schedule starts with daily, weekly, monthly or yearly");
  CHECK_FALSE(Schedule::Parse("weekly FUN 08:00", &error));
}

TEST_CASE("the last due moment is in Helsinki time, across DST and month ends", "[schedule]") {
  // 08:00 in Helsinki is 06:00 UTC in winter (EET) and 05:00 UTC in summer (EEST).
  CHECK(P("daily 08:00").LastDueAt(Utc(2026, 11, 22, 7)) == Utc(2026, 11, 22, 6));
  CHECK(P("daily 08:00").LastDueAt(Utc(2026, 11, 22, 5, 59)) == Utc(2026, 11, 21, 6));
  CHECK(P("daily 08:00").LastDueAt(Utc(2026, 7, 1, 5)) == Utc(2026, 7, 1, 5));
  CHECK(P("yearly 01-10 08:00").LastDueAt(Utc(2026, 11, 22, 7)) == Utc(2026, 1, 10, 6));
  CHECK(P("yearly 01-10 08:00").LastDueAt(Utc(2026, 1, 9, 7)) == Utc(2025, 1, 10, 6));
  // The 31st in a 30-day month runs on the 30th.
  CHECK(P("monthly 31 08:00").LastDueAt(Utc(2026, 11, 30, 12)) == Utc(2026, 11, 30, 6));
  // 2026-11-22 is a Sunday; the last Friday 16:30 was 20 November (14:30 UTC).
  CHECK(P("weekly FRI 16:30").LastDueAt(Utc(2026, 11, 22, 12)) == Utc(2026, 11, 20, 14, 30));
}
