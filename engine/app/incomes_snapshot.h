// Loads the incomes the evaluation may use into the population snapshot.
//
// A resident's incomes are held (Population::incomes_held) only when they were fetched
// (incomes_fetched) AND the resident still has a legal basis on the evaluation date for the
// purpose they were fetched under (ResidentsWithIncomeBasis in connectors/registries): a revoked
// consent or an ended ECEC placement stops the engine using them at once, before the connector's
// next poll forgets them. A consent's time limits are checked against the end of `today`.
// Amounts are euros in millionths; a recovery counts negative. The fetch date is recorded for
// freshness requirements on subject.incomes.
//
// Thread-safety: reads `db` on the caller's thread; REQUIRES: persons already added to `builder`.
#pragma once

#include "engine/base/date.h"
#include "engine/base/status.h"
#include "engine/eval/population.h"
#include "engine/store/sqlite.h"

namespace ennakko {

Status LoadIncomes(Db& db, Date today, PopulationBuilder& builder);

}  // namespace ennakko
