// Rule schedules: when a rule's offers are queued ("yearly 01-10 08:00").
//
//   daily HH:MM | weekly MON..SUN HH:MM | monthly DD HH:MM | yearly MM-DD HH:MM
//
// Times are local to Europe/Helsinki. A Schedule is a value; LastDueAt is a pure function, so the
// daemon decides "has a scheduled run passed since the last one?" from two timestamps it stores.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "engine/base/date.h"

namespace ennakko {

struct Schedule {
  enum class Every { kDay, kWeek, kMonth, kYear };
  Every every = Every::kDay;
  int weekday = 0;  // kWeek: 0 = Monday .. 6 = Sunday
  int month = 1;    // kYear
  int day = 1;      // kMonth, kYear (kMonth days past the month's end run on its last day)
  int hour = 0, minute = 0;

  // Parses the syntax above; nullopt with `error` set on anything else.
  static std::optional<Schedule> Parse(std::string_view text, std::string* error);

  // The latest scheduled moment at or before `now` (UTC time point; the schedule is in Helsinki
  // time). The daemon runs the rule when this is later than its last run.
  std::chrono::system_clock::time_point LastDueAt(std::chrono::system_clock::time_point now) const;
};

}  // namespace ennakko
