// Pause and resume per service: an operator stops a campaign's sends without losing its offers.
//
// The paused services are rows of the service_pauses table (a migration), so a restart keeps a
// pause. The outbox's claim skips offers of a paused service (they stay queued, untouched: no
// attempt is used and their order is kept), and resuming makes them due again at once.
// Not thread-safe: one ServicePauses per Db, used from the thread that owns that Db (the HTTP API
// opens its own connection to the store).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/base/date.h"
#include "engine/base/status.h"
#include "engine/store/sqlite.h"

namespace ennakko {

struct ServicePause {
  std::string service;
  std::string paused_at;  // RFC 3339 UTC
  std::string by;         // who asked: "http", an operator's name (no personal data)
};

class ServicePauses {
 public:
  ServicePauses(Db& db, const Clock& clock) : db_(db), clock_(clock) {}

  // Result: true when the state changed (false: already paused / not paused).
  Result<bool> Pause(std::string_view service, std::string_view by);
  Result<bool> Resume(std::string_view service);
  Result<std::vector<ServicePause>> List();

 private:
  Db& db_;
  const Clock& clock_;
};

}  // namespace ennakko
