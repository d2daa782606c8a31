#include "engine/lang/schedule.h"

#include <array>
#include <cstdio>
#include <sstream>

namespace ennakko {

namespace chr = std::chrono;

std::optional<Schedule> Schedule::Parse(std::string_view text, std::string* error) {
  std::istringstream in{std::string(text)};
  std::string kind, a, b, extra;
  in >> kind >> a >> b >> extra;
  Schedule s;
  auto fail = [&](const std::string& why) -> std::optional<Schedule> {
    if (error) *error = why;
    return std::nullopt;
  };
  auto parse_time = [&](const std::string& t) {
    int h = -1, m = -1;
    char tail = 0;
    if (t.size() != 5 || std::sscanf(t.c_str(), "%2d:%2d%c", &h, &m, &tail) != 2) return false;
    if (h < 0 || h > 23 || m < 0 || m > 59) return false;
    s.hour = h;
    s.minute = m;
    return true;
  };
  if (kind != "daily" && kind != "weekly" && kind != "monthly" && kind != "yearly") {
    return fail("a schedule starts with daily, weekly, monthly or yearly");
  }
  if (kind == "daily") {
    if (a.empty() || !b.empty() || !parse_time(a)) return fail("expected `daily HH:MM`");
    s.every = Every::kDay;
    return s;
  }
  if (!extra.empty() || b.empty()) return fail("expected `" + kind + " ... HH:MM`");
  if (!parse_time(b)) return fail("the time must be HH:MM, 00:00 to 23:59");
  if (kind == "weekly") {
    static const std::array<std::string, 7> kDays = {"MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"};
    for (int d = 0; d < 7; ++d) {
      if (a == kDays[static_cast<size_t>(d)]) {
        s.every = Every::kWeek;
        s.weekday = d;
        return s;
      }
    }
    return fail("the day must be one of MON TUE WED THU FRI SAT SUN");
  }
  if (kind == "monthly") {
    int d = 0;
    char tail = 0;
    if (std::sscanf(a.c_str(), "%2d%c", &d, &tail) != 1 || d < 1 || d > 31) return fail("the day must be 1 to 31");
    s.every = Every::kMonth;
    s.day = d;
    return s;
  }
  if (kind == "yearly") {
    int m = 0, d = 0;
    char tail = 0;
    if (a.size() != 5 || std::sscanf(a.c_str(), "%2d-%2d%c", &m, &d, &tail) != 2) return fail("the date must be MM-DD");
    chr::month_day md{chr::month{static_cast<unsigned>(m)}, chr::day{static_cast<unsigned>(d)}};
    if (!md.ok()) return fail("no such day of the year: " + a);
    s.every = Every::kYear;
    s.month = m;
    s.day = d;
    return s;
  }
  return fail("unreachable");
}

chr::system_clock::time_point Schedule::LastDueAt(chr::system_clock::time_point now) const {
  // Work in Helsinki local time, then convert the candidate back to UTC with its own offset.
  auto local = now + HelsinkiOffset(now);
  chr::sys_days today = chr::floor<chr::days>(local);
  auto at = [&](chr::sys_days day) {
    auto local_point = day + chr::hours{hour} + chr::minutes{minute};
    return local_point - HelsinkiOffset(local_point - chr::hours{2});
  };
  auto clamp_day = [](chr::year y, unsigned m, unsigned d) {
    chr::year_month_day_last last{y / chr::month{m} / chr::last};
    return chr::sys_days{y / chr::month{m} / chr::day{std::min(d, static_cast<unsigned>(last.day()))}};
  };
  chr::year_month_day ymd{today};
  for (int back = 0; back < 400; ++back) {
    chr::sys_days day;
    switch (every) {
      case Every::kDay: day = today - chr::days{back}; break;
      case Every::kWeek: {
        auto wd = chr::weekday{today};
        int since = (static_cast<int>(wd.iso_encoding()) - 1 - weekday + 7) % 7;
        day = today - chr::days{since + 7 * back};
        break;
      }
      case Every::kMonth: {
        auto ym = chr::year_month{ymd.year(), ymd.month()} - chr::months{back};
        day = clamp_day(ym.year(), static_cast<unsigned>(ym.month()), static_cast<unsigned>(this->day));
        break;
      }
      case Every::kYear:
        day = clamp_day(ymd.year() - chr::years{back}, static_cast<unsigned>(month), static_cast<unsigned>(this->day));
        break;
    }
    auto t = at(day);
    if (t <= now) return t;
  }
  return chr::system_clock::time_point{};
}

}  // namespace ennakko
