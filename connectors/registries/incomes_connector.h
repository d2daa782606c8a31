// IncomesConnector: pulls earnings payment reports from the Incomes Register (Tulorekisteri) for
// the residents the city has a legal basis to ask about, and applies them to the IncomeStore.
//
// Legal basis (IncomeBasis below; docs/incomes-connector.md): a resident's income is fetched only
//  - with an active consent for the configured purpose (granted_at <= now, not revoked, not
//    expired), or
//  - while a fee decision is pending for them: they are a guardian in custody today of a living
//    child with an ECEC placement that has not ended (Act 1503/2016 requires a fee decision for
//    every ECEC client, and the fee depends on the guardians' income; a placement starting later
//    counts, since the decision is made before it starts).
// Nobody else is ever queried. A resident who loses the basis has their incomes forgotten at the
// next poll (and the snapshot stops using them at once, see LoadIncomes in engine/app).
//
// Protocol: one real-time query per resident, "earnings payment reports of this income earner
// received between T1 and T2" (names in incomes_register_xml.h). T1 is where the resident's last
// pull ended (incomes_fetched.fetched_through), or now - options.window for a resident never
// fetched; T2 is the poll's start time. Each resident's answer is applied together with their
// fetched_through advance in one transaction, so a crash or a fault loses nothing and an answer
// applied twice changes nothing (report versions, see engine/store/incomes.h). A resident is due
// when never asked or last asked at least poll_every / 2 ago; the due are asked in order of their
// last pull (never pulled first), at most max_earners_per_poll a poll.
// The connector cursor ("incomes") is the window end of the last poll that reached everyone.
//
// Errors: a connection failure, timeout, truncated answer, 5xx or a document that is not
// well-formed XML -> Unavailable; 429 -> ResourceExhausted, with retry_after() from Retry-After.
// Either way the residents not yet answered keep their T1 (those already applied stay applied),
// and the next poll continues. 401/403 -> FailedPrecondition (credentials or data permit). A
// report that is well-formed XML but malformed (or about someone else) is quarantined (connector
// "incomes", the raw report kept for correction, never logged) and the rest are applied.
//
// Thread-safety: like every RegistryConnector, polled from the daemon's main loop thread only.
#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "connectors/registries/connector.h"
#include "engine/base/date.h"

namespace ennakko {

struct IncomesConnectorOptions {
  // The Incomes Register data-user endpoint, e.g. http://127.0.0.1:8091 (the path is added).
  std::string base_url;
  // Credentials (HTTP Basic; the real service uses its certificate instead).
  std::string username;
  std::string password;
  // The purpose of use: both the consent purpose and the purpose named in the data permit.
  std::string purpose = "ecec-fee-income";
  // The normal wait between polls.
  std::chrono::seconds poll_every{3600};
  // How far back the first pull of a resident reaches (receipt time).
  std::chrono::seconds window{std::chrono::hours(24 * 62)};
  // The limit of each query (connect, send, receive).
  std::chrono::milliseconds timeout{10000};
  // The most income earners one Poll() asks about (the longest-unasked first); when more are due
  // the report says caught_up = false, so one poll never holds the daemon's loop for long.
  size_t max_earners_per_poll = 200;
};

// Why the city may fetch a resident's income.
struct IncomeBasis {
  int64_t resident_id = 0;
  std::string hetu;
  std::string basis;  // "consent" | "pending-fee-decision"
};

// Residents with a legal basis to fetch their income for `purpose` on `today` at `now` (RFC 3339
// UTC), sorted by id. A consent counts when granted_at <= now, revoked_at is NULL and expires_at
// is NULL or later than now. (A small query over the consents table of migration 1: the consent
// store replaces it with its own active-consent query when it lands.)
Result<std::vector<IncomeBasis>> ResidentsWithIncomeBasis(Db& db, std::string_view purpose, Date today,
                                                          std::string_view now);

class IncomesConnector final : public RegistryConnector {
 public:
  IncomesConnector(IncomesConnectorOptions options, const Clock& clock);

  std::string_view name() const override { return "incomes"; }
  std::chrono::milliseconds poll_every() const override { return options_.poll_every; }
  Result<ConnectorPollReport> Poll(Db& db) override;
  std::optional<std::chrono::milliseconds> retry_after() const override { return retry_after_; }

 private:
  Result<std::string> Query(const std::string& hetu, const std::string& start, const std::string& end);

  const IncomesConnectorOptions options_;
  const Clock& clock_;
  std::string authorization_;
  std::optional<std::chrono::milliseconds> retry_after_;
  // Residents changed by a poll that then failed part-way: reported by the next successful poll.
  std::set<int64_t> pending_changed_;
};

}  // namespace ennakko
