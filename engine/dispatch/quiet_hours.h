// Quiet hours: a daily window of Helsinki local time in which a channel sends nothing (no SMS
// 21:00–08:00). An offer due in the window is held until the window ends, not failed and not
// moved to another channel.
//
// Local time is Europe/Helsinki through HelsinkiOffset (engine/base/date.h), so the window follows
// the clock change: "until 08:00" is 06:00 UTC in winter and 05:00 UTC in summer, also on the
// nights the clocks change. A window whose start is after its end spans midnight; start == end
// means no quiet hours. Immutable value; thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "engine/base/status.h"

namespace ennakko {

struct QuietHours {
  int start_minute = 0;  // minutes after local midnight when the quiet starts (21:00 = 1260)
  int end_minute = 0;    // ... and when it ends (08:00 = 480)

  // "HH:MM" → minutes after midnight; InvalidArgument otherwise.
  static Result<int> ParseClock(std::string_view hh_mm);
  static QuietHours Sms() { return {21 * 60, 8 * 60}; }

  bool empty() const { return start_minute == end_minute; }
  // When `utc` falls in the window: the instant it ends (UTC). Otherwise nullopt.
  std::optional<std::chrono::system_clock::time_point> HeldUntil(
      std::chrono::system_clock::time_point utc) const;
  std::string ToString() const;  // "21:00–08:00"
};

}  // namespace ennakko
