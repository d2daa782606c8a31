// VtjConnector: the population connector over VTJ's change-data interface (VTJ-muutosrajapinta,
// docs/vtj-connector.md), a RegistryConnector the daemon schedules.
//
// Protocol (../shared/domain/interfaces.md): on the first run the start key is asked by date
// (GET /api/v1/kirjausavain/{start_date}) and stored as the cursor; then, if an initial-load file
// of identity codes is configured, their current data is loaded with POST /api/v1/perustiedot
// (1000 codes a call); then POST /api/v1/muutokset is called with the stored key, page after page,
// until ajanTasalla is true (or max_pages_per_poll pages, then caught_up = false).
//
// Invariants:
//  - Each page is applied in ONE transaction together with the new key (connector_cursors):
//    the key is persisted only with the committed page. A crash or an error loses nothing.
//  - The same page applied twice changes nothing (population_apply.h); a page the source delivers
//    again is applied again, harmlessly, and the key never moves backwards.
//  - Malformed entries are quarantined (connector "vtj", batch "muutokset@<key>", line = the
//    entry's 1-based index) with a reason; the rest of the page is applied.
//  - Transient failures — 5xx, connection errors, timeouts, truncated or malformed bodies — return
//    Unavailable and leave the key where it was; 429 returns ResourceExhausted and retry_after()
//    says how long the source asked us to wait (Retry-After, else 15 s). 401/403 and other 4xx are
//    Permanent (fix the credentials or the request).
//  - Status messages and logs carry keys, counts and HTTP statuses, never identity codes or bodies.
//
// Thread-safety: none; Poll runs on the daemon's loop thread (the thread that owns the Db).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "connectors/registries/connector.h"
#include "engine/base/date.h"

namespace ennakko {

struct VtjConnectorOptions {
  // The interface's base URL, e.g. https://vtj.example/ (the X-Road security server's), without
  // the /api/v1 part. http:// only in tests.
  std::string base_url;
  // DVV-issued credentials (HTTP Basic).
  std::string username;
  std::string password;
  // The day from which changes are wanted on the very first run (kirjausavain).
  Date start_date;
  // Trusted CA certificates (PEM) for https; empty: the system store.
  std::string ca_file;
  // The wait between polls when caught up.
  std::chrono::milliseconds poll_every{std::chrono::hours(1)};
  // Per HTTP call.
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  // Identity codes (one a line, '#' comments) to load with perustiedot once, after the start key
  // is stored. Loaded again, idempotently, when the file's contents change. Empty: none.
  std::string initial_load_file;
  // The most muutokset pages (or perustiedot calls) one Poll applies before returning with
  // caught_up = false, so a long backlog does not hold the loop.
  int max_pages_per_poll = 20;
  // The connector's name: cursor, quarantine and facts.source.
  std::string name = "vtj";
};

class VtjConnector : public RegistryConnector {
 public:
  // `clock` stamps fetched_at; nullptr means the system clock. REQUIRES: clock outlives this.
  explicit VtjConnector(VtjConnectorOptions options, const Clock* clock = nullptr);

  std::string_view name() const override { return options_.name; }
  std::chrono::milliseconds poll_every() const override { return options_.poll_every; }
  Result<ConnectorPollReport> Poll(Db& db) override;
  std::optional<std::chrono::milliseconds> retry_after() const override { return retry_after_; }

 private:
  class Session;
  VtjConnectorOptions options_;
  const Clock* clock_;
  std::optional<std::chrono::milliseconds> retry_after_;
  std::set<int64_t> pending_changed_;  // committed but not yet reported (see Poll)
};

}  // namespace ennakko
