#include "engine/base/date.h"

#include <ctime>

#include <fmt/format.h>

namespace ennakko {

namespace chr = std::chrono;

Date Date::FromYmd(int y, unsigned m, unsigned d) {
  chr::sys_days sd{chr::year{y} / chr::month{m} / chr::day{d}};
  return Date{static_cast<int32_t>(sd.time_since_epoch().count())};
}

std::optional<Date> Date::Parse(std::string_view t) {
  if (t.size() != 10 || t[4] != '-' || t[7] != '-') return std::nullopt;
  auto num = [&](size_t pos, size_t len) -> int {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (t[i] < '0' || t[i] > '9') return -1;
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  int y = num(0, 4), m = num(5, 2), d = num(8, 2);
  if (y < 0 || m < 0 || d < 0) return std::nullopt;
  chr::year_month_day ymd{chr::year{y}, chr::month{static_cast<unsigned>(m)},
                          chr::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return Date{static_cast<int32_t>(chr::sys_days{ymd}.time_since_epoch().count())};
}

static chr::year_month_day Ymd(Date d) { return chr::year_month_day{chr::sys_days{chr::days{d.days}}}; }

int Date::year() const { return static_cast<int>(Ymd(*this).year()); }
unsigned Date::month() const { return static_cast<unsigned>(Ymd(*this).month()); }
unsigned Date::day() const { return static_cast<unsigned>(Ymd(*this).day()); }

std::string Date::ToString() const {
  auto ymd = Ymd(*this);
  const int year = static_cast<int>(ymd.year());
  const unsigned month = static_cast<unsigned>(ymd.month()), day = static_cast<unsigned>(ymd.day());
  if (year < 0 || year > 9999) return fmt::format("{:04d}-{:02d}-{:02d}", year, month, day);
  // By hand: the population store formats several dates per record it writes.
  std::string out = "0000-00-00";
  out[0] = static_cast<char>('0' + year / 1000);
  out[1] = static_cast<char>('0' + year / 100 % 10);
  out[2] = static_cast<char>('0' + year / 10 % 10);
  out[3] = static_cast<char>('0' + year % 10);
  out[5] = static_cast<char>('0' + month / 10);
  out[6] = static_cast<char>('0' + month % 10);
  out[8] = static_cast<char>('0' + day / 10);
  out[9] = static_cast<char>('0' + day % 10);
  return out;
}

int AgeAt(Date birth, Date at) {
  auto b = Ymd(birth), a = Ymd(at);
  int years = static_cast<int>(a.year()) - static_cast<int>(b.year());
  unsigned bm = static_cast<unsigned>(b.month()), bd = static_cast<unsigned>(b.day());
  unsigned am = static_cast<unsigned>(a.month()), ad = static_cast<unsigned>(a.day());
  if (am < bm || (am == bm && ad < bd)) --years;
  return years;
}

chr::hours HelsinkiOffset(chr::system_clock::time_point now) {
  chr::year_month_day ymd{chr::floor<chr::days>(now)};
  auto last_sunday = [&](unsigned month) {
    chr::sys_days last{ymd.year() / chr::month{month} / chr::last};
    return last - (chr::weekday{last} - chr::Sunday);
  };
  auto start = last_sunday(3) + chr::hours{1};
  auto end = last_sunday(10) + chr::hours{1};
  return (now >= start && now < end) ? chr::hours{3} : chr::hours{2};
}

Date Clock::Today() const {
  auto now = Now();
  auto local_days = chr::floor<chr::days>(now + HelsinkiOffset(now));
  return Date{static_cast<int32_t>(local_days.time_since_epoch().count())};
}

std::string FormatTimestamp(chr::system_clock::time_point t) {
  auto ms = chr::duration_cast<chr::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:03d}Z", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     static_cast<int>(ms % 1000));
}

}  // namespace ennakko
