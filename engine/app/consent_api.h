// The consent API (MyData): grant, revoke and look up purpose-bound consents over HTTP, every
// route behind the daemon's bearer token.
//
//   POST /api/v1/consents         {"identity_code","purpose","granted_at","expires_at"?,"source"}
//                                 → 201 {"id",...}; 409 {"id"} when an open consent exists
//   POST /api/v1/consents/revoke  {"id","source"?} → 200 {"id","revoked_at","already_revoked",
//                                 "offers_cancelled"}; 404 for an unknown id
//   POST /api/v1/consents/lookup  {"identity_code"} or {"id"} → 200 {"consents":[...]}
// Errors are JSON {"error": "..."} with 400 (bad input), 404, 409, 503 (store busy). No response
// or log line repeats an identity code; the audit log gets pseudonyms (consent.granted,
// consent.revoked, offer.cancelled).
//
// Revocation takes effect at once: in the same transaction as the revoke, every *queued* offer
// that relied on the consent is cancelled (CancelOffersRelyingOn), each audited; offers already
// sending or sent are not touched. Then the residents-changed hook tells the daemon to re-evaluate.
//
// Threading: handlers run on the HTTP server's I/O threads. The API owns its own Db connection
// (WAL, busy timeout), used under mu_ only, never the main loop's. SetRules may be called from any
// thread; the residents-changed hook is called after commit, outside mu_, from an I/O thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/api/http_server.h"
#include "engine/audit/audit_log.h"
#include "engine/audit/pseudonym.h"
#include "engine/eval/program.h"
#include "engine/store/consents.h"
#include "engine/store/sqlite.h"

namespace ennakko {

struct ConsentApiOptions {
  // The store (the daemon's store.path); the API opens its own connection to it.
  std::string store_path;
  // How long a grant or revoke waits for the main loop's write transaction before 503.
  int busy_timeout_ms = 10000;
  bool synchronous_full = true;
  ConsentOptions consent;
};

struct CancelledOffer {
  int64_t offer_id = 0;
  std::string service;
  int64_t subject_id = 0;
};

// Cancels the queued offers that relied on `revoked` (a consent of resident R for purpose P, just
// revoked): for every rule in `rules` whose permission is `basis: consent, purpose: P`, its queued
// offers where
//   - R is the recipient (whoever else consented, R is not contacted on a basis R withdrew), or
//   - the subject has lost the permission: `from: subject` — R is the subject; `from:
//     subject.guardians` — R is the subject's guardian in custody on `today` and no other guardian
//     in custody on `today` has a consent for P active at `now`.
// REQUIRES: inside the revoking transaction, after the revocation was written.
Result<std::vector<CancelledOffer>> CancelOffersRelyingOn(Db& db, const RuleSet& rules, const ConsentRecord& revoked,
                                                          Date today, TimePoint now);

class ConsentApi {
 public:
  using ResidentsChanged = std::function<void(std::vector<int64_t>)>;

  // Opens the API's own connection to the (already migrated) store. `clock`, `audit` and
  // `pseudonyms` must outlive the API.
  static Result<std::unique_ptr<ConsentApi>> Open(const ConsentApiOptions& options, const Clock& clock,
                                                  AuditLog& audit, const Pseudonymizer& pseudonyms);

  // The rule set revocations consult for offers that relied on a consent. Thread-safe.
  void SetRules(std::shared_ptr<const RuleSet> rules);
  // Called after a grant or revocation commits, with the store id of the resident whose consent
  // changed. REQUIRES: before Register.
  void OnResidentsChanged(ResidentsChanged hook) { on_changed_ = std::move(hook); }
  // Adds the routes (all requiring the bearer token). REQUIRES: before server.Start().
  void Register(HttpServer& server);

  // The handlers, public for tests.
  HttpResponse Grant(const HttpRequest& request);
  HttpResponse Revoke(const HttpRequest& request);
  HttpResponse Lookup(const HttpRequest& request);

 private:
  ConsentApi(ConsentApiOptions options, std::unique_ptr<Db> db, const Clock& clock, AuditLog& audit,
             const Pseudonymizer& pseudonyms)
      : options_(std::move(options)), clock_(clock), audit_(audit), pseudonyms_(pseudonyms), db_(std::move(db)) {}
  std::string PseudonymOf(int64_t resident_id);  // REQUIRES: mu_ held
  void Changed(int64_t resident_id);

  // Constant after construction.
  const ConsentApiOptions options_;
  const Clock& clock_;
  AuditLog& audit_;  // thread-safe
  const Pseudonymizer& pseudonyms_;
  ResidentsChanged on_changed_;

  std::mutex mu_;
  // Protected by mu_.
  std::unique_ptr<Db> db_;

  // Its own mutex, so a reload never waits for a request that waits for the store.
  std::mutex rules_mu_;
  std::shared_ptr<const RuleSet> rules_;  // protected by rules_mu_
};

}  // namespace ennakko
