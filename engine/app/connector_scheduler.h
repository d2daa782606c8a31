// ConnectorScheduler: polls a set of RegistryConnectors on the daemon's main loop thread, each on
// its own schedule, with exponential backoff on transient errors, and keeps their health for
// /metrics and /readyz.
//
// What it is for: the daemon owns the schedule, a connector owns its protocol and cursor
// (connectors/registries/connector.h). Adding a connector is one line:
//     scheduler.Add(std::make_unique<MyConnector>(...));
// The main loop calls PollDue(db) when it wakes, re-evaluates the residents it reports, and sleeps
// at most UntilNextPoll().
//
// Schedule, per connector:
//  - success, caught up: next poll after poll_every(); failures reset to 0.
//  - success, not caught up: polled again at once (the next PollDue), without waiting.
//  - transient error (Unavailable, ResourceExhausted): the n-th consecutive failure waits a
//    uniformly random time in [0, min(cap, initial * 2^(n-1))] ("full jitter"), but never less
//    than the connector's retry_after() (HTTP 429 Retry-After), which may exceed the cap.
//  - any other error: retried after poll_every(), like a success; counted as a failure.
//
// Health: ennakko_connector_up, _last_success_timestamp_seconds, _consecutive_failures,
// _next_poll_timestamp_seconds (gauges) and ennakko_connector_polls_total{outcome},
// _records_total, _quarantined_total (counters), all labelled {connector}. The last error's text
// is kept for /readyz with anything shaped like an identity code masked, and cut to 300 bytes:
// connectors must not put personal data in a Status, and this is the second line of defence.
//
// Thread-safety: Add and PollDue on one thread (the one that owns the Db); Health, AllReady and
// ReadinessText may be called from any thread (the HTTP server's) — they read a copy kept under a
// mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "connectors/registries/connector.h"
#include "engine/base/date.h"
#include "engine/base/metrics.h"
#include "engine/store/sqlite.h"

namespace ennakko {

struct BackoffOptions {
  std::chrono::milliseconds initial{1000};
  std::chrono::milliseconds cap{std::chrono::minutes(5)};
  uint64_t seed = 0;  // 0: seeded from std::random_device
};

struct ConnectorHealth {
  std::string name;
  bool succeeded_once = false;
  bool up = false;  // the last poll succeeded
  int64_t consecutive_failures = 0;
  std::optional<std::chrono::system_clock::time_point> last_success;
  std::chrono::system_clock::time_point next_poll;
  std::string last_error;  // "" after a success; never personal data (see above)
  int64_t polls = 0, records = 0, quarantined = 0;
};

// What one PollDue did, over every connector polled.
struct SchedulerTick {
  int64_t polled = 0;      // connectors polled
  int64_t succeeded = 0;   // of which succeeded
  int64_t batches_applied = 0;
  int64_t records_applied = 0;
  int64_t records_quarantined = 0;
  // Union of the connectors' changed_residents. Sorted, unique.
  std::vector<int64_t> changed_residents;
  // Names of the connectors whose first success this tick was (the daemon runs a full pass then).
  std::vector<std::string> first_successes;
  // What each connector that applied something reported (for the audit log: counts and cursor,
  // never personal data).
  struct Applied {
    std::string connector;
    int64_t batches = 0, records = 0, quarantined = 0, changed = 0;
    std::string cursor;
  };
  std::vector<Applied> applied;
};

class ConnectorScheduler {
 public:
  // REQUIRES: clock outlives the scheduler; metrics may be nullptr (tests).
  ConnectorScheduler(const Clock& clock, MetricsRegistry* metrics, BackoffOptions backoff = {});

  // Adds a connector, due at once. Names must be unique (checked: InvalidArgument).
  Status Add(std::unique_ptr<RegistryConnector> connector);

  // Polls every connector whose time has come, once each, in the order added.
  SchedulerTick PollDue(Db& db);

  // How long until the earliest next poll (0 when one is due now).
  std::chrono::milliseconds UntilNextPoll() const;

  // True when there is no connector, or every one has succeeded at least once.
  bool AllReady() const;
  std::vector<ConnectorHealth> Health() const;
  // One line per connector for /readyz: "<name> up|down|pending failures=N last_success=...
  // next_poll=... [last_error=...]".
  std::string ReadinessText() const;

  // The wait before retrying after the n-th consecutive transient failure (n >= 1), before the
  // retry_after floor: uniform in [0, min(cap, initial * 2^(n-1))]. Exposed for tests.
  std::chrono::milliseconds BackoffDelay(int64_t failures);

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::unique_ptr<RegistryConnector> connector;
    ConnectorHealth health;  // the scheduling thread's copy
  };
  void Publish(const Entry& e);

  const Clock& clock_;
  MetricsRegistry* metrics_;
  BackoffOptions backoff_;
  std::mt19937_64 rng_;
  std::vector<Entry> entries_;
  mutable std::mutex mu_;
  std::vector<ConnectorHealth> published_;  // guarded by mu_, read by other threads
};

// Masks identity-code-shaped substrings (DDMMYY, century sign, three digits, check character)
// and cuts the text to `max_bytes`. For error texts shown on /readyz and in metrics.
std::string ScrubErrorText(std::string_view text, size_t max_bytes = 300);

}  // namespace ennakko
