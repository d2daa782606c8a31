// A synthetic city for the evaluation benchmark: households of one or two adults with children of
// every age, older residents living alone or in couples, custody, and placements (ecec, preschool,
// school), with distributions roughly like Helsinki's. Generated in memory, deterministic for a
// given seed and date, never written anywhere.
//
// The records are generated first (SyntheticCity) and fed to a PopulationBuilder separately
// (BuildPopulation), so the benchmark can time the snapshot build without the random generator.
// Thread-safety: plain values; build on one thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/base/date.h"
#include "engine/eval/population.h"

namespace ennakko::bench {

struct CityOptions {
  size_t residents = 1'000'000;  // generated until at least this many, then cut to exactly this
  uint64_t seed = 42;
  Date today;                    // ages and placement dates are relative to this date
};

struct SyntheticCity {
  struct Custody {
    int64_t guardian;
    int64_t ward;
  };
  struct PlacementRecord {
    int64_t person;
    const char* kind;
    int32_t start;
    int32_t end;  // kNoDate while open
  };
  std::vector<PopulationBuilder::Person> persons;  // string views point at static literals
  std::vector<Custody> custody;
  std::vector<PlacementRecord> placements;
};

SyntheticCity GenerateCity(const CityOptions& options);

// Feeds every record to a PopulationBuilder and builds the snapshot.
Population BuildPopulation(const SyntheticCity& city);

}  // namespace ennakko::bench
