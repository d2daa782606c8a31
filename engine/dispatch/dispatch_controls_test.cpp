// Unit tests of the dispatch controls with a FakeClock: token bucket refill, quiet-hour boundaries
// (including the nights the clocks change), circuit breaker transitions, pauses kept in the store.
#include <filesystem>

#include <catch2/catch.hpp>

#include "engine/dispatch/circuit_breaker.h"
#include "engine/dispatch/quiet_hours.h"
#include "engine/dispatch/service_pauses.h"
#include "engine/dispatch/token_bucket.h"
#include "engine/store/migrations.h"

using namespace ennakko;
namespace chr = std::chrono;

namespace {
chr::system_clock::time_point Utc(int y, unsigned m, unsigned d, int h, int min = 0) {
  return chr::sys_days{chr::year{y} / m / d} + chr::hours{h} + chr::minutes{min};
}
}  // namespace

TEST_CASE("a token bucket allows its burst, then refills at its rate", "[dispatch][bucket]") {
  FakeClock clock(Utc(2026, 11, 23, 10));
  TokenBucket bucket({.per_second = 2, .burst = 3}, clock);
  CHECK(bucket.TryTake());
  CHECK(bucket.TryTake());
  CHECK(bucket.TryTake());
  CHECK_FALSE(bucket.TryTake());  // burst used up
  CHECK(bucket.WaitFor(0) == chr::milliseconds(500));
  CHECK(bucket.WaitFor(3) == chr::milliseconds(2000));  // the fourth in line waits 4 tokens' time
  clock.Advance(chr::milliseconds(499));
  CHECK_FALSE(bucket.TryTake());
  clock.Advance(chr::milliseconds(1));
  CHECK(bucket.TryTake());  // one token after 1/rate
  CHECK_FALSE(bucket.TryTake());
  clock.Advance(chr::hours(1));  // a long quiet spell refills to the burst, not beyond
  CHECK(bucket.tokens() == Approx(3));
  for (int i = 0; i < 3; ++i) CHECK(bucket.TryTake());
  CHECK_FALSE(bucket.TryTake());
  clock.Advance(-chr::seconds(10));  // a clock stepping back adds nothing and takes nothing
  CHECK_FALSE(bucket.TryTake());
}

TEST_CASE("a bucket without a rate is unlimited", "[dispatch][bucket]") {
  FakeClock clock(Utc(2026, 11, 23, 10));
  TokenBucket bucket({}, clock);
  for (int i = 0; i < 10000; ++i) REQUIRE(bucket.TryTake());
  CHECK(bucket.WaitFor(100) == chr::milliseconds(0));
}

TEST_CASE("SMS quiet hours: 21:00–08:00 Helsinki, held until 08:00", "[dispatch][quiet]") {
  QuietHours q = QuietHours::Sms();
  CHECK(q.ToString() == "21:00–08:00");
  struct Case {
    const char* what;
    chr::system_clock::time_point now;
    std::optional<chr::system_clock::time_point> until;
  };
  // Winter (EET, UTC+2): 21:00 local = 19:00 UTC, 08:00 local = 06:00 UTC.
  // Summer (EEST, UTC+3): 21:00 local = 18:00 UTC, 08:00 local = 05:00 UTC.
  std::vector<Case> cases = {
      {"winter 20:59 local", Utc(2026, 11, 23, 18, 59), std::nullopt},
      {"winter 21:00 local", Utc(2026, 11, 23, 19, 0), Utc(2026, 11, 24, 6)},
      {"winter 23:30 local", Utc(2026, 11, 23, 21, 30), Utc(2026, 11, 24, 6)},
      {"winter 00:00 local", Utc(2026, 11, 23, 22, 0), Utc(2026, 11, 24, 6)},
      {"winter 07:59 local", Utc(2026, 11, 24, 5, 59), Utc(2026, 11, 24, 6)},
      {"winter 08:00 local", Utc(2026, 11, 24, 6, 0), std::nullopt},
      {"summer 20:59 local", Utc(2026, 6, 15, 17, 59), std::nullopt},
      {"summer 21:00 local", Utc(2026, 6, 15, 18, 0), Utc(2026, 6, 16, 5)},
      {"summer 07:59 local", Utc(2026, 6, 16, 4, 59), Utc(2026, 6, 16, 5)},
      {"summer 08:00 local", Utc(2026, 6, 16, 5, 0), std::nullopt},
      // Clocks go forward on Sunday 29 March 2026 at 03:00 local (01:00 UTC): the evening before
      // is EET, the morning after EEST, so the night is an hour shorter.
      {"spring: Saturday 21:00 EET", Utc(2026, 3, 28, 19, 0), Utc(2026, 3, 29, 5)},
      {"spring: Sunday 02:30 EET", Utc(2026, 3, 29, 0, 30), Utc(2026, 3, 29, 5)},
      {"spring: Sunday 07:59 EEST", Utc(2026, 3, 29, 4, 59), Utc(2026, 3, 29, 5)},
      {"spring: Sunday 08:00 EEST", Utc(2026, 3, 29, 5, 0), std::nullopt},
      // Clocks go back on Sunday 25 October 2026 at 04:00 local (01:00 UTC): the night is an
      // hour longer.
      {"autumn: Saturday 21:00 EEST", Utc(2026, 10, 24, 18, 0), Utc(2026, 10, 25, 6)},
      {"autumn: Sunday 03:30 EEST (first)", Utc(2026, 10, 25, 0, 30), Utc(2026, 10, 25, 6)},
      {"autumn: Sunday 03:30 EET (second)", Utc(2026, 10, 25, 1, 30), Utc(2026, 10, 25, 6)},
      {"autumn: Sunday 07:59 EET", Utc(2026, 10, 25, 5, 59), Utc(2026, 10, 25, 6)},
      {"autumn: Sunday 08:00 EET", Utc(2026, 10, 25, 6, 0), std::nullopt},
      // New year's eve: the hold crosses the year.
      {"31 December 22:00", Utc(2026, 12, 31, 20, 0), Utc(2027, 1, 1, 6)},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto got = q.HeldUntil(c.now);
    REQUIRE(got.has_value() == c.until.has_value());
    if (got) CHECK(FormatTimestamp(*got) == FormatTimestamp(*c.until));
  }
}

TEST_CASE("quiet hours parse HH:MM; a window inside one day and an empty one", "[dispatch][quiet]") {
  CHECK(QuietHours::ParseClock("21:00").value() == 1260);
  CHECK(QuietHours::ParseClock("08:05").value() == 485);
  CHECK_FALSE(QuietHours::ParseClock("24:00").ok());
  CHECK_FALSE(QuietHours::ParseClock("8:00").ok());
  CHECK_FALSE(QuietHours::ParseClock("08:60").ok());
  QuietHours lunch{12 * 60, 13 * 60};
  CHECK_FALSE(lunch.HeldUntil(Utc(2026, 11, 23, 9, 59)));                         // 11:59 local
  CHECK(FormatTimestamp(*lunch.HeldUntil(Utc(2026, 11, 23, 10, 0))) == "2026-11-23T11:00:00.000Z");
  CHECK_FALSE(lunch.HeldUntil(Utc(2026, 11, 23, 11, 0)));                         // 13:00 local
  CHECK_FALSE(QuietHours{}.HeldUntil(Utc(2026, 11, 23, 22, 0)));
}

TEST_CASE("a circuit opens after N transient failures, probes after the cool-down, closes on success",
          "[dispatch][breaker]") {
  FakeClock clock(Utc(2026, 11, 23, 10));
  std::vector<std::string> changes;
  CircuitBreaker b("sms", {.failure_threshold = 3, .cool_down = chr::seconds(30)}, clock,
                   [&](std::string_view ch, CircuitBreaker::State s) {
                     changes.push_back(std::string(ch) + ":" + std::string(CircuitBreaker::StateName(s)));
                   });
  CHECK(b.state() == CircuitBreaker::State::kClosed);
  b.RecordTransientFailure();
  b.RecordTransientFailure();
  b.RecordSuccess();  // a success in between resets the count
  b.RecordTransientFailure();
  b.RecordTransientFailure();
  CHECK(b.Admit());
  b.RecordTransientFailure();  // third in a row
  CHECK(b.state() == CircuitBreaker::State::kOpen);
  CHECK(b.Blocks());
  CHECK_FALSE(b.Admit());
  CHECK(FormatTimestamp(b.RetryAt()) == FormatTimestamp(clock.Now() + chr::seconds(30)));
  clock.Advance(chr::seconds(29));
  CHECK_FALSE(b.Admit());
  clock.Advance(chr::seconds(1));
  CHECK_FALSE(b.Blocks());
  CHECK(b.Admit());  // the probe
  CHECK(b.state() == CircuitBreaker::State::kHalfOpen);
  CHECK_FALSE(b.Admit());  // only one probe at a time
  b.RecordTransientFailure();  // the probe failed: open again for a new cool-down
  CHECK(b.state() == CircuitBreaker::State::kOpen);
  CHECK_FALSE(b.Admit());
  clock.Advance(chr::seconds(30));
  CHECK(b.Admit());
  b.RecordSuccess();  // the probe went through
  CHECK(b.state() == CircuitBreaker::State::kClosed);
  CHECK(b.Admit());
  CHECK(b.Admit());
  CHECK(changes == std::vector<std::string>{"sms:open", "sms:half_open", "sms:open", "sms:half_open", "sms:closed"});
}

TEST_CASE("a permanent failure does not trip the circuit", "[dispatch][breaker]") {
  FakeClock clock(Utc(2026, 11, 23, 10));
  CircuitBreaker b("email", {.failure_threshold = 2, .cool_down = chr::seconds(5)}, clock);
  for (int i = 0; i < 10; ++i) {
    b.RecordTransientFailure();
    b.RecordSuccess();  // Permanent outcomes are recorded as successes by the dispatcher
  }
  CHECK(b.state() == CircuitBreaker::State::kClosed);
}

TEST_CASE("a pause is kept in the store across a restart until resumed", "[dispatch][pause]") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("ennakko-pause-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "store.db").string();
  FakeClock clock(Utc(2026, 11, 23, 10));
  {
    auto db = OpenStore({.path = path}).value();
    ServicePauses pauses(*db, clock);
    CHECK(pauses.Pause("preschool-offer", "http").value());
    CHECK_FALSE(pauses.Pause("preschool-offer", "http").value());  // already paused
  }
  {
    auto db = OpenStore({.path = path}).value();  // "restart"
    ServicePauses pauses(*db, clock);
    auto list = pauses.List().value();
    REQUIRE(list.size() == 1);
    CHECK(list[0].service == "preschool-offer");
    CHECK(list[0].paused_at == "2026-11-23T10:00:00.000Z");
    CHECK(pauses.Resume("preschool-offer").value());
    CHECK_FALSE(pauses.Resume("preschool-offer").value());
  }
  {
    auto db = OpenStore({.path = path}).value();
    CHECK(ServicePauses(*db, clock).List().value().empty());
  }
  fs::remove_all(dir);
}
