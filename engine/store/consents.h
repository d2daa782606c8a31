// Purpose-bound consents (MyData): a resident's permission for the city to use their data for one
// purpose, from granted_at until expires_at (if any) or until revoked.
//
// Invariants (kept by ConsentStore, table `consents`):
//   - one row per grant, identified by its id; rows are never deleted, so the history of grants
//     and revocations stays (a revoked or expired consent is kept, inactive);
//   - at most one *open* consent (not revoked, not yet expired) per (resident, purpose): a second
//     grant while one is open is refused with the open one's id, so a retried grant cannot
//     create a duplicate;
//   - revoked_at is set once (revoking again changes nothing) and is the server's time;
//   - timestamps are stored as RFC 3339 UTC with milliseconds (FormatTimestamp), fixed width, so
//     text order is time order and SQL can compare them.
// A consent is *active at t* when granted_at <= t, expires_at is null or > t, and revoked_at is
// null or > t. Evaluation works by day: see HelsinkiDay and the rule-language guide.
//
// Validation: the identity code (checksum included), the purpose and the source follow the
// patterns below; expires_at must be after granted_at and not already past; granted_at may not be
// in the future by more than the allowed clock skew. Messages never repeat an identity code.
//
// Thread-safety: ConsentStore and the free functions use the Db they are given from the calling
// thread only (a Db is not thread-safe). They open no transaction of their own: wrap a grant or
// revocation in the caller's Transaction when it must commit together with other writes.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/date.h"
#include "engine/base/status.h"
#include "engine/store/sqlite.h"

namespace ennakko {

using TimePoint = std::chrono::system_clock::time_point;

// The purpose of a consent to fetch a resident's income from the Incomes Register for the early
// childhood education fee (Act 1503/2016 §11; the other legal basis is a pending fee decision).
inline constexpr std::string_view kIncomeConsentPurpose = "ecec-fee-income";

struct ConsentOptions {
  // How far in the future a granted_at may lie (the granting system's clock may run ahead).
  std::chrono::seconds max_clock_skew{300};
};

struct NewConsent {
  std::string identity_code;  // the resident's henkilötunnus; must be in the store
  std::string purpose;        // ValidatePurpose
  TimePoint granted_at;
  std::optional<TimePoint> expires_at;
  std::string source;         // ValidateSource: the system or desk that recorded it
};

struct ConsentRecord {
  int64_t id = 0;
  int64_t resident_id = 0;
  std::string purpose;
  std::string granted_at;  // RFC 3339 UTC
  std::optional<std::string> expires_at;
  std::optional<std::string> revoked_at;
  std::string source;
  std::optional<std::string> revoked_source;
  std::string recorded_at;
  bool ActiveAt(TimePoint t) const;
};

// Parses an RFC 3339 timestamp: YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM). InvalidArgument with
// what is wrong otherwise.
Result<TimePoint> ParseTimestamp(std::string_view text);
// The calendar day in Helsinki of a moment (what "today" means in the rules).
Date HelsinkiDay(TimePoint t);
// A purpose: lower case letters, digits and dashes, 2-64 characters, starting with a letter
// (e.g. ecec-fee-income); the same pattern as the rule schema's permission.purpose.
Status ValidatePurpose(std::string_view purpose);
// A source: 1-64 characters of letters, digits and . _ : / - (a system name, never a person's).
Status ValidateSource(std::string_view source);

class ConsentStore {
 public:
  ConsentStore(Db& db, const Clock& clock, ConsentOptions options = {})
      : db_(db), clock_(clock), options_(options) {}

  struct Granted {
    ConsentRecord consent;  // the new one, or the open one that refused the grant
    bool created = false;   // false: an open consent for this purpose exists (consent.id)
  };
  // Records a grant. InvalidArgument for bad input, NotFound when no resident has the identity
  // code. An open consent for the same resident and purpose is returned with created = false.
  Result<Granted> Grant(const NewConsent& consent);

  struct Revoked {
    ConsentRecord consent;        // after the revocation
    bool already_revoked = false;  // it was revoked before: nothing changed
  };
  // Revokes consent `id` now. Idempotent: revoking a revoked consent returns it unchanged with
  // already_revoked. NotFound for an unknown id; InvalidArgument for a bad source.
  Result<Revoked> Revoke(int64_t id, std::string_view source);

  // One consent, or NotFound.
  Result<ConsentRecord> Get(int64_t id);
  // Every consent of a resident (history included), newest first.
  Result<std::vector<ConsentRecord>> OfResident(int64_t resident_id);
  // The resident's consents for `purpose` active at `at`.
  Result<std::vector<ConsentRecord>> Active(int64_t resident_id, std::string_view purpose, TimePoint at);
  // The store id of the resident with this identity code: InvalidArgument for an invalid code,
  // NotFound when no resident has it.
  Result<int64_t> ResidentId(std::string_view identity_code);

 private:
  Db& db_;
  const Clock& clock_;
  const ConsentOptions options_;
};

// The legal-basis check of the income connector and other fetchers: whether the resident has an
// active consent for `purpose` at `at` (e.g. HasActiveConsent(db, id, kIncomeConsentPurpose, now)).
Result<bool> HasActiveConsent(Db& db, int64_t resident_id, std::string_view purpose, TimePoint at);
// Store ids of every resident with an active consent for `purpose` at `at`, ascending.
Result<std::vector<int64_t>> ResidentsWithActiveConsent(Db& db, std::string_view purpose, TimePoint at);

}  // namespace ennakko
