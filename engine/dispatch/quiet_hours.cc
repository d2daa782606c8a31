#include "engine/dispatch/quiet_hours.h"

#include <fmt/format.h>

#include "engine/base/date.h"

namespace ennakko {

namespace chr = std::chrono;

Result<int> QuietHours::ParseClock(std::string_view s) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (s.size() != 5 || s[2] != ':' || !digit(s[0]) || !digit(s[1]) || !digit(s[3]) || !digit(s[4])) {
    return Status::Invalid("a time of day must be HH:MM, e.g. 21:00");
  }
  int h = (s[0] - '0') * 10 + (s[1] - '0');
  int m = (s[3] - '0') * 10 + (s[4] - '0');
  if (h > 23 || m > 59) return Status::Invalid("a time of day must be between 00:00 and 23:59");
  return h * 60 + m;
}

namespace {
// The UTC instant of a Helsinki local time: the offset that, applied back, gives the same local
// time. For the hour that repeats in October the earlier instant; for the hour skipped in March
// (no such local time) the winter offset. Quiet hours end at ordinary hours, away from both.
chr::system_clock::time_point FromHelsinki(chr::system_clock::time_point local) {
  for (chr::hours offset : {chr::hours{3}, chr::hours{2}}) {
    auto utc = local - offset;
    if (HelsinkiOffset(utc) == offset) return utc;
  }
  return local - chr::hours{2};
}
}  // namespace

std::optional<chr::system_clock::time_point> QuietHours::HeldUntil(chr::system_clock::time_point utc) const {
  if (empty()) return std::nullopt;
  const auto local = utc + HelsinkiOffset(utc);
  const auto midnight = chr::floor<chr::days>(local);
  const int minute = static_cast<int>(chr::duration_cast<chr::minutes>(local - midnight).count());
  const bool wraps = start_minute > end_minute;
  const bool quiet = wraps ? (minute >= start_minute || minute < end_minute)
                           : (minute >= start_minute && minute < end_minute);
  if (!quiet) return std::nullopt;
  // The end is today when we are before it, else tomorrow (after a start in the evening).
  auto end_local = midnight + chr::minutes{end_minute};
  if (minute >= end_minute) end_local += chr::days{1};
  return FromHelsinki(end_local);
}

std::string QuietHours::ToString() const {
  return fmt::format("{:02d}:{:02d}–{:02d}:{:02d}", start_minute / 60, start_minute % 60, end_minute / 60,
                     end_minute % 60);
}

}  // namespace ennakko
