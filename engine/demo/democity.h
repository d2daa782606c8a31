// The demo city: a synthetic population written in the population file-drop format
// (docs/population-file-drop.md), for demos, load tests and end-to-end tests.
//
// What it is for: anyone can run Ennakko end to end without real personal data. The output is a
// snapshot (000000.snapshot.jsonl) and `change_batches` change batches that the file-drop
// connector (connectors/registries/population_filedrop.h) loads.
//
// Invariants:
//  - Deterministic: the same options give the same bytes, on any standard library (the generator
//    maps std::mt19937_64 output to ranges itself; mt19937_64 is fully specified).
//  - Synthetic only: every identity code is valid, uses an individual number 900-999, and is
//    unique (century sign included). Phone numbers are +35850 numbers made up from an index;
//    e-mail addresses are @example.fi.
//  - Realistic in the ways rules care about: households of 1-2 guardians and 1-4 children, single
//    adults and the elderly; ~1.1 % of residents per birth-year cohort of children; ~10 % of the
//    pre-primary cohort (born today.year - 6) already placed in esiopetus; ~3 % of families in a
//    neighbouring municipality; fi ~80 %, sv ~6 %, en ~14 % per household; phones ~85 % and
//    e-mail ~60 % of adults; a few address protection orders.
//  - Change batches are one day apart (muutospv = today + n) and hold a few births, a household
//    moving out of the city, a death, an ended custody and a new phone number; only the last one
//    carries malformed lines, and only when inject_malformed is set.
//
// Thread-safety: GenerateDemoCity is a free function with no shared state; concurrent calls must
// use different out_dir values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/date.h"
#include "engine/base/status.h"

namespace ennakko {

// Which registers' info groups a written city holds. kAll is the file-drop demo's single source;
// the demo with the test doubles serves kPopulationRegister through vtj_fake and drops only
// kCityRegisters (SIJOITUS placements, YHTEYSTIEDOT contacts: the city's own systems, not VTJ).
enum class DemoCityGroups { kAll, kPopulationRegister, kCityRegisters };

// True when `group` (a tietoryhma name) is one of the city's own registers, not VTJ's.
bool IsCityRegisterGroup(std::string_view group);

struct DemoCityOptions {
  uint64_t seed = 42;                // same seed, same bytes
  int residents = 50000;             // residents in the snapshot, exactly; at least 100
  std::string municipality = "091";  // kuntakoodi of the city (091 = Helsinki)
  Date today;                        // the snapshot's date; REQUIRED (no clock: determinism)
  int change_batches = 2;            // change batches after the snapshot, one day apart
  std::string out_dir;               // created if missing; batch files already in it are removed
  bool inject_malformed = false;     // two malformed lines in the last change batch
  // Groups written; a line left with no group is left out. Stats describe the whole city.
  DemoCityGroups groups = DemoCityGroups::kAll;
};

struct DemoCityStats {
  int residents = 0;                  // records in the snapshot
  int households = 0;                 // addresses shared by one or more residents
  int families = 0;                   // households with children
  int children = 0;                   // residents under 18 in the snapshot
  int preprimary_cohort = 0;          // born in today.year - 6, anywhere
  int preprimary_cohort_in_city = 0;  // ... living in the city
  int preprimary_placed = 0;          // ... already holding an esiopetus placement
  int other_municipality = 0;         // residents living in the neighbouring municipality
  int address_protected = 0;          // residents under a protection order
  int births = 0;                     // in the change batches
  int deaths = 0;
  int moved_out = 0;  // residents who moved out of the city
  int custody_ended = 0;
  int phone_changes = 0;
  int change_records = 0;          // well-formed lines in the change batches
  int malformed_lines = 0;         // injected malformed lines
  std::vector<std::string> files;  // file names written, in batch order
};

Result<DemoCityStats> GenerateDemoCity(const DemoCityOptions& options);

}  // namespace ennakko
