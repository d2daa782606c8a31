#include "engine/app/consent_snapshot.h"

#include <algorithm>

#include "engine/store/consents.h"

namespace ennakko {

std::pair<int32_t, int32_t> ConsentDays(const std::string& granted_at, const std::optional<std::string>& expires_at,
                                        const std::optional<std::string>& revoked_at) {
  auto granted = ParseTimestamp(granted_at);
  if (!granted.ok()) return {kNoDate, kNoDate};
  int32_t from = HelsinkiDay(*granted).days;
  int32_t until = kNoDate;
  for (const auto& end : {expires_at, revoked_at}) {
    if (!end) continue;
    auto t = ParseTimestamp(*end);
    if (!t.ok()) return {kNoDate, kNoDate};
    int32_t day = HelsinkiDay(*t).days;
    until = until == kNoDate ? day : std::min(until, day);
  }
  return {from, until};
}

Status LoadConsents(Db& db, PopulationBuilder& builder) {
  auto st = db.Prepare("SELECT id, resident_id, purpose, granted_at, expires_at, revoked_at FROM consents");
  if (!st.ok()) return st.status();
  for (;;) {
    auto row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    auto [from, until] = ConsentDays(st->Text(3), st->OptText(4), st->OptText(5));
    builder.AddConsent(st->Int(1), st->Int(0), st->Text(2), from, until);
  }
  return Status::Ok();
}

}  // namespace ennakko
