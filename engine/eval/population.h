// The evaluation snapshot: every resident's facts in flat arrays, read-only during evaluation.
//
// Persons are dense indexes 0..size()-1. Missing facts use sentinels (kNoDate, kNoString) so the
// evaluator can tell "not held" from a value without branching on optionals. Relations (guardians,
// children, placements) are CSR ranges: offsets into one shared array. Strings are interned once;
// the evaluator compares ids, never text. Built single-threaded by a PopulationBuilder, then
// immutable and safe to share between threads.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/base/date.h"
#include "engine/lang/ast.h"

namespace ennakko {

using PersonIndex = uint32_t;
using StringId = uint32_t;

inline constexpr int32_t kNoDate = INT32_MIN;
inline constexpr StringId kNoString = 0;

class StringTable {
 public:
  StringTable() { strings_.emplace_back(); }
  StringId Intern(std::string_view s);
  // kNoString when the string was never interned (so it cannot equal any stored value).
  StringId Find(std::string_view s) const;
  const std::string& Get(StringId id) const { return strings_[id]; }

 private:
  std::vector<std::string> strings_;
  std::unordered_map<std::string, StringId> index_;
};

struct Placement {
  StringId kind = kNoString;
  int32_t start = kNoDate;
  int32_t end = kNoDate;
};

struct Income {
  StringId type = kNoString;  // income type code
  int64_t amount = 0;         // euros in millionths (kDecimalScale)
  int32_t start = kNoDate;
  int32_t end = kNoDate;
};

// A purpose-bound consent, by day: it counts on day D when from <= D < until.
struct Consent {
  int64_t id = 0;               // the consent's store id (named in reasons; not personal data)
  StringId purpose = kNoString;
  int32_t from = kNoDate;       // the first day it counts (the day it was granted)
  int32_t until = kNoDate;      // the first day it no longer counts (expiry or revocation); kNoDate = open
  bool ActiveOn(int32_t day) const { return from != kNoDate && from <= day && (until == kNoDate || day < until); }
};

class Population {
 public:
  size_t size() const { return id_.size(); }
  int64_t store_id(PersonIndex p) const { return id_[p]; }
  int32_t birth_date(PersonIndex p) const { return birth_[p]; }
  int32_t death_date(PersonIndex p) const { return death_[p]; }
  StringId municipality(PersonIndex p) const { return municipality_[p]; }
  StringId language(PersonIndex p) const { return language_[p]; }
  bool address_protected(PersonIndex p) const { return flags_[p] & kProtected; }
  // When a fact was fetched (day), for the facts some rule requires fresh; kNoDate when unknown
  // or not tracked.
  int32_t fetched(PersonIndex p, Field f) const {
    const auto& v = fetched_[static_cast<size_t>(f)];
    return v.empty() ? kNoDate : v[p];
  }
  // Whether the city holds income data for this person (fetched with a legal basis).
  bool incomes_held(PersonIndex p) const { return flags_[p] & kIncomesHeld; }
  std::span<const PersonIndex> guardians(PersonIndex p) const {
    return {guardians_.data() + guardian_off_[p], guardian_off_[p + 1] - guardian_off_[p]};
  }
  std::span<const PersonIndex> children(PersonIndex p) const {
    return {children_.data() + child_off_[p], child_off_[p + 1] - child_off_[p]};
  }
  std::span<const PersonIndex> household(PersonIndex p) const {
    return {household_.data() + household_off_[p], household_off_[p + 1] - household_off_[p]};
  }
  std::span<const PersonIndex> siblings(PersonIndex p) const {
    return {siblings_.data() + sibling_off_[p], sibling_off_[p + 1] - sibling_off_[p]};
  }
  std::span<const Placement> placements(PersonIndex p) const {
    return {placements_.data() + placement_off_[p], placement_off_[p + 1] - placement_off_[p]};
  }
  std::span<const Income> incomes(PersonIndex p) const {
    return {incomes_.data() + income_off_[p], income_off_[p + 1] - income_off_[p]};
  }
  // The person's consents (any purpose, active or not); see Consent::ActiveOn.
  std::span<const Consent> consents(PersonIndex p) const {
    if (consent_off_.empty()) return {};
    return {consents_.data() + consent_off_[p], consent_off_[p + 1] - consent_off_[p]};
  }
  const StringTable& strings() const { return strings_; }
  // Index of a store id, or -1.
  int64_t IndexOf(int64_t store_id) const;
  // Approximate bytes held, for the memory figure in benchmarks.
  size_t MemoryBytes() const;

 private:
  friend class PopulationBuilder;
  static constexpr uint8_t kProtected = 1;
  static constexpr uint8_t kIncomesHeld = 2;
  std::vector<int64_t> id_;
  std::vector<int32_t> birth_, death_;
  std::vector<StringId> municipality_, language_;
  std::vector<uint8_t> flags_;
  std::vector<uint32_t> guardian_off_, child_off_, sibling_off_, household_off_, placement_off_, income_off_;
  std::vector<PersonIndex> guardians_, children_, siblings_, household_;
  std::vector<Placement> placements_;
  std::vector<Income> incomes_;
  std::vector<uint32_t> consent_off_;
  std::vector<Consent> consents_;
  std::array<std::vector<int32_t>, kFieldCount> fetched_;  // by field; empty when not tracked
  StringTable strings_;
  // Store id -> index. Left empty while persons were added in ascending store-id order (the
  // live population's case): IndexOf then searches id_, and a million hash nodes are not built.
  std::unordered_map<int64_t, PersonIndex> by_store_id_;
  bool ids_sorted_ = true;
};

// Builds a Population: add persons first, then relations by store id, then Build().
class PopulationBuilder {
 public:
  struct Person {
    int64_t store_id = 0;
    int32_t birth = kNoDate;
    int32_t death = kNoDate;
    std::string_view municipality;  // empty = not held
    std::string_view language;      // empty = not held
    bool address_protected = false;
    // Identifies the permanent address (e.g. street + postal code); empty when none is held.
    // Persons with the same key form a household. Never set under a protection order.
    std::string_view household_key;
    // The same, as a number (faster for a caller that interns the address): persons with the same
    // nonzero id form a household. 0 = none; set this or household_key, not both.
    uint32_t household_id = 0;
  };
  void AddPerson(const Person& p);
  void AddCustody(int64_t guardian_store_id, int64_t ward_store_id);
  void AddPlacement(int64_t store_id, std::string_view kind, int32_t start, int32_t end);
  // Marks the person's incomes as held (even with no items: no income is a fact too).
  void SetIncomesHeld(int64_t store_id);
  // Records when a fact of a person was fetched (for freshness requirements).
  void SetFetched(int64_t store_id, Field field, int32_t day);
  // The same by index (the order persons were added in), for callers that hold that order.
  void SetFetchedAt(PersonIndex person, Field field, int32_t day);
  void AddIncome(int64_t store_id, std::string_view type, int64_t amount_micros, int32_t start, int32_t end);
  // A consent of the person for `purpose`, counting from day `from` until (not including) day
  // `until` (kNoDate: open). Unknown store ids are ignored.
  void AddConsent(int64_t store_id, int64_t consent_id, std::string_view purpose, int32_t from, int32_t until);
  Population Build() &&;

 private:
  Population pop_;
  std::vector<std::pair<PersonIndex, PersonIndex>> custody_;  // guardian, ward
  std::vector<std::pair<PersonIndex, Placement>> placements_;
  std::vector<std::pair<PersonIndex, Income>> incomes_;
  std::vector<std::pair<PersonIndex, Consent>> consents_;
  std::unordered_map<std::string, std::vector<PersonIndex>> households_;
  std::vector<std::pair<uint32_t, PersonIndex>> household_ids_;  // (household_id, person)
};

}  // namespace ennakko
