// The demo city's population model (internal to engine/demo): people and households in memory,
// the records that describe them in the file-drop format, and the events of the change batches.
//
// Invariants: every random choice goes through Rng, in a fixed order, so the model (and the bytes
// written from it) depends on the options alone. Identity codes are allocated through
// AllocateHetu, which keeps them unique per (birth date, century sign, individual number).
// Thread-safety: a DemoCityModel is used by one thread.
#pragma once

#include <bitset>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/demo/democity.h"

namespace ennakko::demo {

using Json = nlohmann::ordered_json;

// Maps std::mt19937_64 output to ranges by multiply-shift, which (unlike the standard
// distributions) gives the same numbers with every standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(g_()) * n) >> 64);
  }
  int Range(int lo, int hi) {
    return lo + static_cast<int>(Below(static_cast<uint64_t>(hi - lo + 1)));
  }
  bool Chance(int per_10000) { return Below(10000) < static_cast<uint64_t>(per_10000); }

 private:
  std::mt19937_64 g_;
};

struct Place {
  std::string code;           // kuntakoodi
  std::string postal_prefix;  // first two digits of its postal codes
  std::string post_office;
};

struct Person {
  std::string hetu;
  Date birth;
  Date resident_since;
  bool female = false;
  uint8_t first = 0, second = 0, last = 0;  // indices into kNames[language]; second 255 = none
  int household = -1;
  int phone = -1;  // index into the phone number sequence; -1 = no phone
  bool email = false;
  bool preschool = false;  // esiopetus placement from August this year
  std::optional<Date> ecec_start;
  bool dead = false;
};

struct Household {
  int place = 0;         // 0 = the city, 1 = the neighbouring municipality
  uint8_t language = 0;  // 0 fi, 1 sv, 2 en
  bool address_protected = false;
  int street = 0, number = 1, apartment = 0;  // apartment 0 = a house
  char stair = 'A';
  std::string postal_code;
  int adults[2] = {-1, -1};
  std::vector<int> children;
  bool touched = false;  // already used by a change event
};

class DemoCityModel {
 public:
  explicit DemoCityModel(const DemoCityOptions& options);

  // Builds the snapshot population: families first, then other adults, exactly N residents.
  Status Build();
  // The snapshot, one line per resident, guardians before their children.
  std::vector<std::string> SnapshotLines();
  // Change batch number `n` (1-based); `last` adds the malformed lines when asked to.
  std::vector<std::string> ChangeLines(int n, bool last);

  const std::vector<Person>& people() const { return people_; }
  const std::vector<Household>& households() const { return households_; }
  DemoCityStats& stats() { return stats_; }

 private:
  // Record building.
  Json Group(const char* name, const char* attr) const;
  Json Record(const Person& p, std::optional<Date> change) const;
  Json FullRecord(int person, const char* attr, std::optional<Date> change) const;
  Json AddressGroup(const Household& h, const char* attr) const;
  Json ContactGroup(const Person& p, const char* attr) const;
  Json CustodyGroup(const char* group, const Person& other, Date start, const char* attr,
                    std::optional<Date> end) const;
  std::string Phone(int index) const;
  std::string Email(int person) const;

  // Population building.
  std::string AllocateHetu(Date& birth, bool female);
  Date BirthIn(int year);
  int AddPerson(Date birth, bool female, int household, uint8_t last_name);
  int AddHousehold(int place, uint8_t language);
  void AddFamily(std::vector<int>& remaining, int& total);
  void AddOtherAdults(int count, int elderly);
  int PickHousehold(bool (*fits)(const DemoCityModel&, const Household&));

  // Change events; each appends its lines.
  void Birth(Date day, std::vector<std::string>& out);
  void MoveOut(Date day, std::vector<std::string>& out);
  void Death(Date day, std::vector<std::string>& out);
  void EndCustody(Date day, std::vector<std::string>& out);
  void NewPhone(Date day, std::vector<std::string>& out);

  const DemoCityOptions& o_;
  Rng rng_;
  int year_;
  Place places_[2];
  uint64_t phone_offset_ = 0;
  int next_phone_ = 0;
  std::vector<Person> people_;
  std::vector<Household> households_;
  std::unordered_map<int64_t, std::bitset<100>> used_codes_;  // (day, sign) -> numbers 900..999
  DemoCityStats stats_;
};

}  // namespace ennakko::demo
