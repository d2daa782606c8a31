// Civil dates as a day count, and the clock that tells today's date.
//
// Date is a value type: days since 1970-01-01 in the proleptic Gregorian calendar, so comparison
// and day arithmetic are integer operations (the evaluator relies on that: no allocation, no
// lookup). Clock is an interface so tests can pin "today"; SystemClock is thread-safe, FakeClock is
// not meant to be shared across threads while it is being set.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ennakko {

struct Date {
  int32_t days = 0;  // since 1970-01-01

  static Date FromYmd(int y, unsigned m, unsigned d);
  // Parses "YYYY-MM-DD"; nullopt on anything else, including impossible dates (2023-02-29).
  static std::optional<Date> Parse(std::string_view text);

  int year() const;
  unsigned month() const;
  unsigned day() const;
  std::string ToString() const;  // YYYY-MM-DD

  friend auto operator<=>(const Date&, const Date&) = default;
};

// Whole years from `birth` to `at` (the age on date `at`); a 29 February birthday ages on 1 March
// in common years, as in Finnish practice.
int AgeAt(Date birth, Date at);

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point Now() const = 0;
  // Today's date in Europe/Helsinki (EET/EEST), which is what "today" means to a Finnish statute.
  Date Today() const;
};

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now();
  }
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::chrono::system_clock::time_point t) : now_(t) {}
  std::chrono::system_clock::time_point Now() const override { return now_; }
  void Set(std::chrono::system_clock::time_point t) { now_ = t; }
  void Advance(std::chrono::system_clock::duration d) { now_ += d; }

 private:
  std::chrono::system_clock::time_point now_;
};

// Helsinki's UTC offset at `utc`: EET +2, EEST +3 from the last Sunday of March 01:00 UTC to the
// last Sunday of October 01:00 UTC (the EU rule since 1996; g++ 12 has no std::chrono time zones).
std::chrono::hours HelsinkiOffset(std::chrono::system_clock::time_point utc);

// RFC 3339 UTC timestamp with milliseconds, e.g. 2026-11-22T08:00:00.123Z.
std::string FormatTimestamp(std::chrono::system_clock::time_point t);

}  // namespace ennakko
