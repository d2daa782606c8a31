#include "engine/app/connector_scheduler.h"

#include <catch2/catch.hpp>
#include <deque>
#include <set>

#include "engine/store/migrations.h"

using namespace ennakko;
using namespace std::chrono_literals;

namespace {

// A connector that answers from a script: each Poll takes the next answer (the last repeats).
class ScriptedConnector : public RegistryConnector {
 public:
  explicit ScriptedConnector(std::string name, std::chrono::milliseconds every = 60s)
      : name_(std::move(name)), every_(every) {}
  std::string_view name() const override { return name_; }
  std::chrono::milliseconds poll_every() const override { return every_; }
  std::optional<std::chrono::milliseconds> retry_after() const override { return retry_after_; }
  Result<ConnectorPollReport> Poll(Db&) override {
    ++polls;
    Result<ConnectorPollReport> r = script.empty() ? Result<ConnectorPollReport>(ConnectorPollReport{}) : script.front();
    if (script.size() > 1) script.pop_front();
    return r;
  }
  std::deque<Result<ConnectorPollReport>> script;
  std::optional<std::chrono::milliseconds> retry_after_;
  int polls = 0;

 private:
  std::string name_;
  std::chrono::milliseconds every_;
};

ConnectorPollReport Report(std::vector<int64_t> changed, bool caught_up = true) {
  ConnectorPollReport r;
  r.records_applied = static_cast<int64_t>(changed.size());
  r.changed_residents = std::move(changed);
  r.caught_up = caught_up;
  return r;
}

struct Fixture {
  FakeClock clock{std::chrono::system_clock::time_point(std::chrono::hours(24 * 20500))};
  MetricsRegistry metrics;
  std::unique_ptr<Db> db = std::move(OpenStore({.path = ":memory:"}).value());
  ConnectorScheduler scheduler{clock, &metrics, BackoffOptions{.initial = 1000ms, .cap = 60s, .seed = 7}};
  ScriptedConnector* Add(std::string name, std::chrono::milliseconds every = 60s) {
    auto c = std::make_unique<ScriptedConnector>(std::move(name), every);
    auto* raw = c.get();
    REQUIRE(scheduler.Add(std::move(c)).ok());
    return raw;
  }
  std::chrono::milliseconds Wait() { return scheduler.UntilNextPoll(); }
};

}  // namespace

TEST_CASE("backoff delays grow, stay within the full-jitter bounds, and are jittered") {
  FakeClock clock{std::chrono::system_clock::time_point{}};
  ConnectorScheduler s(clock, nullptr, BackoffOptions{.initial = 1000ms, .cap = 30s, .seed = 1});
  for (int64_t n = 1; n <= 10; ++n) {
    int64_t ceiling = std::min<int64_t>(1000LL << (n - 1), 30000);
    std::set<int64_t> seen;
    int64_t max_seen = 0;
    for (int i = 0; i < 200; ++i) {
      int64_t d = s.BackoffDelay(n).count();
      REQUIRE(d >= 0);
      REQUIRE(d <= ceiling);
      seen.insert(d);
      max_seen = std::max(max_seen, d);
    }
    CHECK(seen.size() > 50);               // jittered, not one fixed value
    CHECK(max_seen > ceiling * 8 / 10);    // and it uses the whole range up to the ceiling
  }
}

TEST_CASE("a transient failure backs off; consecutive failures widen the window; success resets it") {
  Fixture f;
  auto* c = f.Add("vtj", 60s);
  c->script = {Status::Unavailable("503"), Status::Unavailable("503"), Status::Unavailable("503"),
               Status::Unavailable("503"), Status::Unavailable("503"), Report({5, 3})};
  std::vector<int64_t> waits;
  for (int i = 0; i < 5; ++i) {
    auto tick = f.scheduler.PollDue(*f.db);
    REQUIRE(tick.polled == 1);
    REQUIRE(tick.succeeded == 0);
    auto w = f.Wait().count();
    REQUIRE(w <= std::min<int64_t>(1000LL << i, 60000));
    waits.push_back(w);
    // Not due before its time: nothing is polled a millisecond early.
    if (w > 0) {
      f.clock.Advance(std::chrono::milliseconds(w - 1));
      REQUIRE(f.scheduler.PollDue(*f.db).polled == 0);
      f.clock.Advance(1ms);
    }
  }
  CHECK(c->polls == 5);
  auto h = f.scheduler.Health()[0];
  CHECK(h.consecutive_failures == 5);
  CHECK_FALSE(h.up);
  CHECK(h.last_error == "Unavailable: 503");
  CHECK(f.metrics.Get("ennakko_connector_consecutive_failures", {{"connector", "vtj"}}) == 5);
  CHECK(f.metrics.Get("ennakko_connector_up", {{"connector", "vtj"}}) == 0);
  CHECK_FALSE(f.scheduler.AllReady());

  auto tick = f.scheduler.PollDue(*f.db);
  REQUIRE(tick.succeeded == 1);
  CHECK(tick.changed_residents == std::vector<int64_t>{3, 5});
  CHECK(tick.first_successes == std::vector<std::string>{"vtj"});
  h = f.scheduler.Health()[0];
  CHECK(h.consecutive_failures == 0);
  CHECK(h.up);
  CHECK(h.last_error.empty());
  CHECK(f.scheduler.AllReady());
  CHECK(f.Wait() == 60s);  // back on the normal schedule
  CHECK(f.metrics.Get("ennakko_connector_polls_total", {{"connector", "vtj"}, {"outcome", "error"}}) == 5);
  CHECK(f.metrics.Get("ennakko_connector_polls_total", {{"connector", "vtj"}, {"outcome", "ok"}}) == 1);

  // After the recovery a new failure starts again at the smallest window.
  c->script = {Status::Unavailable("503"), Report({})};
  f.clock.Advance(60s);
  f.scheduler.PollDue(*f.db);
  CHECK(f.Wait() <= 1000ms);
}

TEST_CASE("HTTP 429 Retry-After is honoured even beyond the backoff cap") {
  Fixture f;
  auto* c = f.Add("incomes");
  c->retry_after_ = 120s;  // more than the 60 s cap
  c->script = {Status::ResourceExhausted("429 Too Many Requests"), Report({})};
  f.scheduler.PollDue(*f.db);
  CHECK(f.Wait() == 120s);
  f.clock.Advance(119s);
  CHECK(f.scheduler.PollDue(*f.db).polled == 0);
  f.clock.Advance(1s);
  CHECK(f.scheduler.PollDue(*f.db).succeeded == 1);
}

TEST_CASE("a permanent error is retried on the normal schedule, not backed off") {
  Fixture f;
  auto* c = f.Add("filedrop", 30s);
  c->script = {Status::FailedPrecondition("two batches numbered 000004"), Report({})};
  f.scheduler.PollDue(*f.db);
  CHECK(f.Wait() == 30s);
  CHECK(f.scheduler.Health()[0].consecutive_failures == 1);
}

TEST_CASE("not caught up: polled again at once; each connector keeps its own schedule") {
  Fixture f;
  auto* a = f.Add("a", 10s);
  auto* b = f.Add("b", 25s);
  a->script = {Report({1}, false), Report({2}, false), Report({3}, true)};
  b->script = {Report({9})};
  auto t = f.scheduler.PollDue(*f.db);
  CHECK(t.polled == 2);
  CHECK(t.changed_residents == std::vector<int64_t>{1, 9});
  CHECK(f.Wait() == 0ms);
  t = f.scheduler.PollDue(*f.db);
  CHECK(t.polled == 1);  // only a: b is not due
  t = f.scheduler.PollDue(*f.db);
  CHECK(t.changed_residents == std::vector<int64_t>{3});
  CHECK(f.Wait() == 10s);
  f.clock.Advance(10s);
  CHECK(f.scheduler.PollDue(*f.db).polled == 1);
  f.clock.Advance(15s);
  CHECK(f.scheduler.PollDue(*f.db).polled == 2);  // a (due at 20 s) and b (due at 25 s)
  CHECK(a->polls == 5);
  CHECK(b->polls == 2);
}

TEST_CASE("readiness lists every connector and waits for each one's first success") {
  Fixture f;
  auto* a = f.Add("population-filedrop");
  auto* b = f.Add("vtj");
  a->script = {Report({})};
  b->script = {Status::Unavailable("connect to 127.0.0.1:1 refused for 010516B903X"), Report({})};
  CHECK_FALSE(f.scheduler.AllReady());
  CHECK(f.scheduler.ReadinessText().find("vtj pending") != std::string::npos);
  f.scheduler.PollDue(*f.db);
  CHECK_FALSE(f.scheduler.AllReady());
  std::string text = f.scheduler.ReadinessText();
  CHECK(text.find("population-filedrop up failures=0") != std::string::npos);
  CHECK(text.find("vtj down failures=1") != std::string::npos);
  // The last error is shown, with the identity-code-shaped text masked.
  CHECK(text.find("last_error=Unavailable: connect to 127.0.0.1:1 refused for <hetu>") != std::string::npos);
  CHECK(text.find("010516B903X") == std::string::npos);
  f.clock.Advance(2s);
  f.scheduler.PollDue(*f.db);
  CHECK(f.scheduler.AllReady());
  CHECK(f.scheduler.Add(std::make_unique<ScriptedConnector>("vtj")).code() == StatusCode::kInvalidArgument);
}
