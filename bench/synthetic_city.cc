#include "bench/synthetic_city.h"

#include <algorithm>
#include <random>

namespace ennakko::bench {

namespace {

// Multiply-shift over mt19937_64, so the city is the same with every standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}
  uint64_t Below(uint64_t n) { return static_cast<uint64_t>((static_cast<unsigned __int128>(g_()) * n) >> 64); }
  int Range(int lo, int hi) { return lo + static_cast<int>(Below(static_cast<uint64_t>(hi - lo + 1))); }
  bool Chance(int per_10000) { return Below(10000) < static_cast<uint64_t>(per_10000); }
  // Index into `weights` with probability proportional to its weight.
  template <size_t N>
  size_t Pick(const int (&weights)[N]) {
    int total = 0;
    for (int w : weights) total += w;
    int x = static_cast<int>(Below(static_cast<uint64_t>(total)));
    for (size_t i = 0; i < N; ++i) {
      if ((x -= weights[i]) < 0) return i;
    }
    return N - 1;
  }

 private:
  std::mt19937_64 g_;
};

// Shares like Helsinki's: mostly the city itself, some neighbours, a few not held.
constexpr const char* kMunicipalities[] = {"091", "049", "092", ""};
constexpr int kMunicipalityWeights[] = {9500, 200, 150, 150};
constexpr const char* kLanguages[] = {"fi", "sv", "ru", "en", "et", "so", "ar", "zh", "fa", "vi", ""};
constexpr int kLanguageWeights[] = {7700, 600, 300, 250, 200, 170, 150, 100, 100, 80, 100};
// Ages of adults outside families with minors, in bands with their shares.
constexpr int kAdultBandLow[] = {18, 65, 80, 90};
constexpr int kAdultBandHigh[] = {64, 79, 89, 100};
constexpr int kAdultBandWeights[] = {7600, 1700, 550, 150};

class Generator {
 public:
  explicit Generator(const CityOptions& o) : o_(o), rng_(o.seed) {}

  SyntheticCity Run() {
    city_.persons.reserve(o_.residents + 8);
    while (city_.persons.size() < o_.residents) {
      // Households: families with minors, adults living alone, couples without minors.
      switch (rng_.Pick({2000, 4800, 3200})) {
        case 0: Family(); break;
        case 1: Adults(1); break;
        default: Adults(2); break;
      }
    }
    Trim();
    return std::move(city_);
  }

 private:
  struct Household {
    const char* municipality;
    const char* language;
    bool protected_address;
  };

  Household NewHousehold() {
    return {kMunicipalities[rng_.Pick(kMunicipalityWeights)], kLanguages[rng_.Pick(kLanguageWeights)],
            rng_.Chance(40)};
  }

  int32_t BirthForAge(int age) { return o_.today.days - age * 365 - static_cast<int32_t>(age / 4) - rng_.Range(0, 364); }

  int64_t AddPerson(const Household& h, int32_t birth, const char* language) {
    int64_t id = static_cast<int64_t>(city_.persons.size()) + 1;
    int32_t death = rng_.Chance(30) ? o_.today.days - rng_.Range(1, 700) : kNoDate;
    city_.persons.push_back({id, birth, death, h.municipality, language, h.protected_address, {}});
    return id;
  }

  int AdultAge() {
    size_t band = rng_.Pick(kAdultBandWeights);
    return rng_.Range(kAdultBandLow[band], kAdultBandHigh[band]);
  }

  void Adults(int count) {
    Household h = NewHousehold();
    int age = AdultAge();
    for (int k = 0; k < count; ++k) AddPerson(h, BirthForAge(std::max(18, age + rng_.Range(-4, 4))), h.language);
  }

  void Family() {
    Household h = NewHousehold();
    int eldest = rng_.Range(0, 17);
    int parent_age = eldest + rng_.Range(22, 40);
    std::vector<int64_t> guardians;
    int guardian_count = rng_.Chance(7800) ? 2 : 1;
    for (int g = 0; g < guardian_count; ++g) {
      guardians.push_back(AddPerson(h, BirthForAge(parent_age + rng_.Range(-3, 3)), h.language));
    }
    int children = 1 + static_cast<int>(rng_.Pick({4000, 3800, 1500, 700}));
    for (int c = 0; c < children; ++c) {
      int age = c == 0 ? eldest : rng_.Range(0, eldest);
      // Most children share the family's language; some are registered with another one.
      const char* language = rng_.Chance(9000) ? h.language : kLanguages[rng_.Pick(kLanguageWeights)];
      int32_t birth = BirthForAge(age);
      int64_t child = AddPerson(h, birth, language);
      // A few children have no guardian on record (e.g. custody data not yet received).
      if (!rng_.Chance(50)) {
        for (int64_t g : guardians) city_.custody.push_back({g, child});
      }
      Placements(child, birth);
    }
  }

  void Placements(int64_t child, int32_t birth) {
    const int year = o_.today.year();
    const int cohort_age = year - Date{birth}.year();  // the age reached this calendar year
    const int32_t august = Date::FromYmd(year, 8, 1).days;
    auto ecec_start = [&] { return std::min(o_.today.days - 1, birth + rng_.Range(280, 700)); };
    if (cohort_age <= 5) {
      int age_days = o_.today.days - birth;
      if (age_days > 300 && rng_.Chance(cohort_age == 0 ? 2000 : 7500)) {
        city_.placements.push_back({child, "ecec", ecec_start(), kNoDate});
      }
      return;
    }
    // Older children: an ended ecec placement in their history, then preschool or school.
    if (rng_.Chance(7000)) city_.placements.push_back({child, "ecec", ecec_start(), august - 365 * (cohort_age - 5)});
    if (cohort_age == 6) {
      if (rng_.Chance(9200)) city_.placements.push_back({child, "preschool", august, kNoDate});
    } else if (cohort_age <= 16) {
      if (rng_.Chance(9700)) city_.placements.push_back({child, "school", august - 365 * (cohort_age - 7), kNoDate});
    } else if (rng_.Chance(8800)) {
      city_.placements.push_back({child, "school", august - 365, kNoDate});
    }
  }

  // Households are added whole, so the last one may overshoot: cut to exactly the size asked.
  void Trim() {
    const auto n = static_cast<int64_t>(o_.residents);
    city_.persons.resize(o_.residents);
    std::erase_if(city_.custody, [&](const SyntheticCity::Custody& c) { return c.guardian > n || c.ward > n; });
    std::erase_if(city_.placements, [&](const SyntheticCity::PlacementRecord& p) { return p.person > n; });
  }

  const CityOptions& o_;
  Rng rng_;
  SyntheticCity city_;
};

}  // namespace

SyntheticCity GenerateCity(const CityOptions& options) { return Generator(options).Run(); }

Population BuildPopulation(const SyntheticCity& city) {
  PopulationBuilder b;
  for (const auto& p : city.persons) b.AddPerson(p);
  for (const auto& c : city.custody) b.AddCustody(c.guardian, c.ward);
  for (const auto& p : city.placements) b.AddPlacement(p.person, p.kind, p.start, p.end);
  return std::move(b).Build();
}

}  // namespace ennakko::bench
