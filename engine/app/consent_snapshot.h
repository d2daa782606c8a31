// Loads the consents of the store into an evaluation snapshot (PopulationBuilder::AddConsent), by
// Helsinki day: a consent counts from the day it was granted until the day before it expires or
// is revoked. Expiring or being revoked at any moment of a day means it does not count that day —
// the conservative reading, so an evaluation never relies on a consent that ends that day.
//
// Called from LoadPopulation after the persons were added. Reads only; the Db belongs to the
// calling thread.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "engine/base/status.h"
#include "engine/eval/population.h"
#include "engine/store/sqlite.h"

namespace ennakko {

// The day range [from, until) of a consent with these RFC 3339 timestamps (until kNoDate: open).
// Unparsable timestamps (never written by ConsentStore) give from = kNoDate: never counts.
std::pair<int32_t, int32_t> ConsentDays(const std::string& granted_at, const std::optional<std::string>& expires_at,
                                        const std::optional<std::string>& revoked_at);

Status LoadConsents(Db& db, PopulationBuilder& builder);

}  // namespace ennakko
