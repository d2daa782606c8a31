// The interface every registry connector implements (population file drop, VTJ change feed,
// Incomes Register, ...), so that the daemon can schedule, back off and report on all of them the
// same way.
//
// A connector owns its protocol and its cursor; the daemon owns the schedule. One Poll() fetches
// what is new, applies it to the store — each batch together with its cursor advance in one
// transaction, so a crash loses nothing and a batch applied twice changes nothing — and reports
// which residents' facts changed, so that only they (and the people related to them) are
// re-evaluated.
//
// Errors: Unavailable and ResourceExhausted (HTTP 429) are transient: the scheduler retries with
// exponential backoff and jitter, waiting at least retry_after() when the source named a wait.
// Any other error is reported as the connector's last error and retried on the normal schedule.
//
// Thread-safety: a connector is polled from the daemon's main loop thread only (the thread that
// owns the Db).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/status.h"
#include "engine/store/sqlite.h"

namespace ennakko {

struct ConnectorPollReport {
  int64_t batches_applied = 0;
  int64_t records_applied = 0;
  int64_t records_quarantined = 0;
  // Residents whose own facts, custody, placements or incomes changed (both sides of a custody
  // change). Sorted, unique. The daemon widens this through relations before re-evaluating.
  std::vector<int64_t> changed_residents;
  std::string cursor;     // the cursor after the poll; never personal data
  bool caught_up = true;  // false: the source has more right now; poll again without waiting
};

class RegistryConnector {
 public:
  virtual ~RegistryConnector() = default;
  // The connector's name in metrics, the audit log, cursors and quarantine ("vtj", ...).
  virtual std::string_view name() const = 0;
  // The normal wait between polls when caught up.
  virtual std::chrono::milliseconds poll_every() const = 0;
  virtual Result<ConnectorPollReport> Poll(Db& db) = 0;
  // The wait the source asked for in its last failed answer (HTTP 429 Retry-After), if any.
  virtual std::optional<std::chrono::milliseconds> retry_after() const { return std::nullopt; }
};

}  // namespace ennakko
