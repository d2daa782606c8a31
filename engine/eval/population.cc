#include "engine/eval/population.h"

#include <algorithm>

namespace ennakko {

StringId StringTable::Intern(std::string_view s) {
  if (s.empty()) return kNoString;
  auto it = index_.find(std::string(s));
  if (it != index_.end()) return it->second;
  StringId id = static_cast<StringId>(strings_.size());
  strings_.emplace_back(s);
  index_.emplace(std::string(s), id);
  return id;
}

StringId StringTable::Find(std::string_view s) const {
  auto it = index_.find(std::string(s));
  return it == index_.end() ? kNoString : it->second;
}

int64_t Population::IndexOf(int64_t store_id) const {
  if (ids_sorted_) {
    // Store ids are increasing integers, usually with few gaps: the index is at most
    // store_id - id_[0], and usually exactly that (one load instead of a binary search).
    if (id_.empty() || store_id < id_[0]) return -1;
    const auto n = static_cast<int64_t>(id_.size());
    const int64_t guess = store_id - id_[0];
    if (guess < n && id_[static_cast<size_t>(guess)] == store_id) return guess;
    auto end = guess < n ? id_.begin() + guess : id_.end();
    auto it = std::lower_bound(id_.begin(), end, store_id);
    return it != end && *it == store_id ? it - id_.begin() : -1;
  }
  auto it = by_store_id_.find(store_id);
  return it == by_store_id_.end() ? -1 : static_cast<int64_t>(it->second);
}

size_t Population::MemoryBytes() const {
  size_t n = size();
  return n * (sizeof(int64_t) + 2 * sizeof(int32_t) + 2 * sizeof(StringId) + 1 + 6 * sizeof(uint32_t)) +
         (guardians_.size() + children_.size() + siblings_.size() + household_.size()) * sizeof(PersonIndex) +
         placements_.size() * sizeof(Placement) + incomes_.size() * sizeof(Income) +
         consents_.size() * sizeof(Consent) + consent_off_.size() * sizeof(uint32_t) +
         by_store_id_.size() * (sizeof(int64_t) + sizeof(PersonIndex) + 2 * sizeof(void*));
}

void PopulationBuilder::AddPerson(const Person& p) {
  PersonIndex idx = static_cast<PersonIndex>(pop_.id_.size());
  pop_.id_.push_back(p.store_id);
  pop_.birth_.push_back(p.birth);
  pop_.death_.push_back(p.death);
  pop_.municipality_.push_back(pop_.strings_.Intern(p.municipality));
  pop_.language_.push_back(pop_.strings_.Intern(p.language));
  pop_.flags_.push_back(p.address_protected ? Population::kProtected : 0);
  if (pop_.ids_sorted_ && idx > 0 && p.store_id <= pop_.id_[idx - 1]) {
    pop_.ids_sorted_ = false;  // from now on a map (duplicates: the first index wins, as emplace does)
    for (PersonIndex i = 0; i < idx; ++i) pop_.by_store_id_.emplace(pop_.id_[i], i);
  }
  if (!pop_.ids_sorted_) pop_.by_store_id_.emplace(p.store_id, idx);
  if (p.address_protected) return;
  if (p.household_id != 0) {
    household_ids_.emplace_back(p.household_id, idx);
  } else if (!p.household_key.empty()) {
    households_[std::string(p.household_key)].push_back(idx);
  }
}

void PopulationBuilder::SetFetchedAt(PersonIndex p, Field field, int32_t day) {
  if (p >= pop_.id_.size()) return;
  auto& v = pop_.fetched_[static_cast<size_t>(field)];
  if (v.empty()) v.assign(pop_.id_.size(), kNoDate);
  v[p] = day;
}

void PopulationBuilder::AddCustody(int64_t guardian, int64_t ward) {
  int64_t g = pop_.IndexOf(guardian), w = pop_.IndexOf(ward);
  if (g < 0 || w < 0) return;
  custody_.emplace_back(static_cast<PersonIndex>(g), static_cast<PersonIndex>(w));
}

void PopulationBuilder::AddPlacement(int64_t store_id, std::string_view kind, int32_t start, int32_t end) {
  int64_t p = pop_.IndexOf(store_id);
  if (p < 0) return;
  placements_.emplace_back(static_cast<PersonIndex>(p), Placement{pop_.strings_.Intern(kind), start, end});
}

void PopulationBuilder::SetFetched(int64_t store_id, Field field, int32_t day) {
  int64_t p = pop_.IndexOf(store_id);
  if (p < 0) return;
  auto& v = pop_.fetched_[static_cast<size_t>(field)];
  if (v.empty()) v.assign(pop_.id_.size(), kNoDate);
  v[static_cast<size_t>(p)] = day;
}

void PopulationBuilder::SetIncomesHeld(int64_t store_id) {
  int64_t p = pop_.IndexOf(store_id);
  if (p >= 0) pop_.flags_[static_cast<size_t>(p)] |= Population::kIncomesHeld;
}

void PopulationBuilder::AddIncome(int64_t store_id, std::string_view type, int64_t amount, int32_t start, int32_t end) {
  int64_t p = pop_.IndexOf(store_id);
  if (p < 0) return;
  pop_.flags_[static_cast<size_t>(p)] |= Population::kIncomesHeld;
  incomes_.emplace_back(static_cast<PersonIndex>(p), Income{pop_.strings_.Intern(type), amount, start, end});
}

void PopulationBuilder::AddConsent(int64_t store_id, int64_t consent_id, std::string_view purpose, int32_t from,
                                   int32_t until) {
  int64_t p = pop_.IndexOf(store_id);
  if (p < 0) return;
  consents_.emplace_back(static_cast<PersonIndex>(p), Consent{consent_id, pop_.strings_.Intern(purpose), from, until});
}

namespace {
// Counting sort of (owner, value) pairs into CSR offsets and values.
template <typename V, typename Pairs, typename Owner, typename Value>
void ToCsr(size_t n, const Pairs& pairs, Owner owner, Value value, std::vector<uint32_t>& off, std::vector<V>& out) {
  off.assign(n + 1, 0);
  for (const auto& pr : pairs) ++off[owner(pr) + 1];
  for (size_t i = 0; i < n; ++i) off[i + 1] += off[i];
  out.resize(pairs.size());
  std::vector<uint32_t> fill(off.begin(), off.end() - 1);
  for (const auto& pr : pairs) out[fill[owner(pr)]++] = value(pr);
}
}  // namespace

Population PopulationBuilder::Build() && {
  size_t n = pop_.id_.size();
  ToCsr(n, custody_, [](auto& p) { return p.second; }, [](auto& p) { return p.first; }, pop_.guardian_off_, pop_.guardians_);
  ToCsr(n, custody_, [](auto& p) { return p.first; }, [](auto& p) { return p.second; }, pop_.child_off_, pop_.children_);
  ToCsr(n, placements_, [](auto& p) { return p.first; }, [](auto& p) { return p.second; }, pop_.placement_off_, pop_.placements_);
  ToCsr(n, incomes_, [](auto& p) { return p.first; }, [](auto& p) { return p.second; }, pop_.income_off_, pop_.incomes_);
  ToCsr(n, consents_, [](auto& p) { return p.first; }, [](auto& p) { return p.second; }, pop_.consent_off_, pop_.consents_);
  // Siblings: the other wards of the person's guardians, each once.
  std::vector<std::pair<PersonIndex, PersonIndex>> sib;
  std::vector<PersonIndex> seen;
  for (PersonIndex p = 0; p < n; ++p) {
    seen.clear();
    for (PersonIndex g : pop_.guardians(p)) {
      for (PersonIndex c : pop_.children(g)) {
        if (c != p && std::find(seen.begin(), seen.end(), c) == seen.end()) {
          seen.push_back(c);
          sib.emplace_back(p, c);
        }
      }
    }
  }
  ToCsr(n, sib, [](auto& p) { return p.first; }, [](auto& p) { return p.second; }, pop_.sibling_off_, pop_.siblings_);
  // Households: everyone else at the same address.
  std::vector<std::pair<PersonIndex, PersonIndex>> members;
  for (const auto& [key, people] : households_) {
    for (PersonIndex a : people) {
      for (PersonIndex b : people) {
        if (a != b) members.emplace_back(a, b);
      }
    }
  }
  households_.clear();
  if (!household_ids_.empty()) {  // grouped by id with a counting sort, no map
    uint32_t max_id = 0;
    for (const auto& [h, p] : household_ids_) max_id = std::max(max_id, h);
    std::vector<uint32_t> off;
    std::vector<PersonIndex> by_household;
    ToCsr(size_t{max_id} + 1, household_ids_, [](auto& x) { return x.first; }, [](auto& x) { return x.second; }, off,
          by_household);
    for (size_t h = 1; h <= max_id; ++h) {
      for (uint32_t i = off[h]; i < off[h + 1]; ++i) {
        for (uint32_t j = off[h]; j < off[h + 1]; ++j) {
          if (i != j) members.emplace_back(by_household[i], by_household[j]);
        }
      }
    }
    household_ids_.clear();
  }
  ToCsr(n, members, [](auto& p) { return p.first; }, [](auto& p) { return p.second; }, pop_.household_off_, pop_.household_);
  return std::move(pop_);
}

}  // namespace ennakko
