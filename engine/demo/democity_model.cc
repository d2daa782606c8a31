#include "engine/demo/democity_model.h"

#include <fmt/format.h>

#include <algorithm>

#include "engine/base/hetu.h"
#include "engine/demo/democity_names.h"

namespace ennakko::demo {

namespace {

Place PlaceOf(const std::string& code) {
  if (code == "091") return {code, "00", "HELSINKI"};
  if (code == "049") return {code, "02", "ESPOO"};
  if (code == "092") return {code, "01", "VANTAA"};
  if (code == "853") return {code, "20", "TURKU"};
  if (code == "837") return {code, "33", "TAMPERE"};
  if (code == "564") return {code, "90", "OULU"};
  return {code, "99", "KUNTA " + code};
}

int DaysInYear(int y) { return Date::FromYmd(y + 1, 1, 1).days - Date::FromYmd(y, 1, 1).days; }

Json DateValue(Date d) { return Json{{"arvo", d.ToString()}, {"tarkkuus", "PAIVA"}}; }

// ASCII, lower case, for e-mail local parts.
std::string Ascii(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0xC3 && i + 1 < s.size()) {  // Latin-1 supplement: ä å ö Ä Å Ö
      unsigned char d = static_cast<unsigned char>(s[++i]);
      out += (d == 0xB6 || d == 0x96) ? 'o' : 'a';
    } else if (c < 0x80) {
      out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
  }
  return out;
}

}  // namespace

DemoCityModel::DemoCityModel(const DemoCityOptions& o)
    : o_(o), rng_(o.seed), year_(o.today.year()) {
  places_[0] = PlaceOf(o.municipality);
  places_[1] = PlaceOf(o.municipality == "049" ? "091" : "049");
  phone_offset_ = rng_.Below(10'000'000);
}

// --- population ----------------------------------------------------------------------------------

std::string DemoCityModel::AllocateHetu(Date& birth, bool female) {
  // Mostly the classic signs (- and A); about 3 % get a 2023 sign so that parsers meet them.
  const int first_sign = rng_.Chance(300) ? rng_.Range(1, 5) : 0;
  for (int shift = 0;; ++shift) {
    Date d{birth.days + shift};
    for (int s = 0; s < 6; ++s) {
      const int sign = (first_sign + s) % 6;
      auto& used = used_codes_[(static_cast<int64_t>(d.days) << 3) | sign];
      const int start = static_cast<int>(rng_.Below(50));
      for (int k = 0; k < 50; ++k) {
        const int n = 900 + 2 * ((start + k) % 50) + (female ? 0 : 1);
        if (!used[static_cast<size_t>(n - 900)]) {
          used.set(static_cast<size_t>(n - 900));
          birth = d;
          return MakeHetu(d, n, sign);
        }
      }
    }
  }
}

Date DemoCityModel::BirthIn(int year) {
  Date jan1 = Date::FromYmd(year, 1, 1);
  int span = year == year_ ? o_.today.days - jan1.days : DaysInYear(year) - 1;
  return Date{jan1.days + rng_.Range(0, std::max(0, span))};
}

int DemoCityModel::AddHousehold(int place, uint8_t language) {
  Household h;
  h.place = place;
  h.language = language;
  h.address_protected = rng_.Chance(40);
  h.street = static_cast<int>(rng_.Below(kStreets.size()));
  h.number = rng_.Range(1, 120);
  if (rng_.Chance(6500)) {
    h.stair = static_cast<char>('A' + rng_.Range(0, 3));
    h.apartment = rng_.Range(1, 60);
  }
  h.postal_code = fmt::format("{}{:03d}", places_[place].postal_prefix, 10 * rng_.Range(10, 99));
  households_.push_back(std::move(h));
  return static_cast<int>(households_.size()) - 1;
}

int DemoCityModel::AddPerson(Date birth, bool female, int household, uint8_t last_name) {
  Person p;
  p.female = female;
  p.hetu = AllocateHetu(birth, female);
  p.birth = birth;
  p.household = household;
  p.first = static_cast<uint8_t>(rng_.Below(24));
  p.second = rng_.Chance(7000) ? static_cast<uint8_t>(rng_.Below(24)) : uint8_t{255};
  if (p.second == p.first) p.second = 255;
  p.last = last_name;
  const int age = AgeAt(birth, o_.today);
  p.resident_since = Date{std::max(birth.days, o_.today.days - rng_.Range(0, 20 * 365))};
  if (age >= 18) {
    if (rng_.Chance(8500)) p.phone = next_phone_++;
    p.email = rng_.Chance(6000);
  }
  people_.push_back(std::move(p));
  return static_cast<int>(people_.size()) - 1;
}

void DemoCityModel::AddFamily(std::vector<int>& remaining, int& total) {
  // The eldest child, drawn in proportion to what is left of each cohort (index = age).
  uint64_t pick = rng_.Below(static_cast<uint64_t>(total));
  int age = 0;
  while (pick >= static_cast<uint64_t>(remaining[static_cast<size_t>(age)])) {
    pick -= static_cast<uint64_t>(remaining[static_cast<size_t>(age++)]);
  }
  const int k = rng_.Chance(3500) ? 1 : rng_.Chance(6200) ? 2 : rng_.Chance(7200) ? 3 : 4;
  std::vector<int> ages = {age};
  for (int i = 1; i < k; ++i) {
    int next = ages.back() - rng_.Range(1, 4);
    if (next < 0 || remaining[static_cast<size_t>(next)] == 0) break;
    ages.push_back(next);
  }
  for (int a : ages) --remaining[static_cast<size_t>(a)];
  total -= static_cast<int>(ages.size());

  const int r = rng_.Range(0, 9999);
  const uint8_t language = r < 8000 ? 0 : r < 8600 ? 1 : 2;
  const int h = AddHousehold(rng_.Chance(300) ? 1 : 0, language);
  const Date eldest = BirthIn(year_ - ages[0]);
  const uint8_t family_name = static_cast<uint8_t>(rng_.Below(24));
  const bool two = rng_.Chance(7800);
  const bool first_female = two ? rng_.Chance(5000) : rng_.Chance(8000);
  const int parent_year = eldest.year() - rng_.Range(22, 40);
  households_[static_cast<size_t>(h)].adults[0] =
      AddPerson(BirthIn(parent_year), first_female, h, family_name);
  if (two) {
    const bool female = rng_.Chance(1000) ? first_female : !first_female;
    const int year = std::min(year_ - 18, parent_year + rng_.Range(-3, 6));
    const uint8_t last = rng_.Chance(7000) ? family_name : static_cast<uint8_t>(rng_.Below(24));
    households_[static_cast<size_t>(h)].adults[1] = AddPerson(BirthIn(year), female, h, last);
  }
  for (size_t i = 0; i < ages.size(); ++i) {
    Date birth = i == 0 ? eldest : BirthIn(year_ - ages[i]);
    const int c = AddPerson(birth, rng_.Chance(4900), h, family_name);
    Person& p = people_[static_cast<size_t>(c)];
    p.resident_since = p.birth;
    const int cohort_age = year_ - p.birth.year();
    if (households_[static_cast<size_t>(h)].place == 0) {
      if (cohort_age == 6) p.preschool = rng_.Chance(1000);
      if (cohort_age >= 1 && cohort_age <= 6 && rng_.Chance(6500)) {
        p.ecec_start = Date{std::min(o_.today.days, p.birth.days + rng_.Range(300, 700))};
      }
    }
    households_[static_cast<size_t>(h)].children.push_back(c);
  }
}

void DemoCityModel::AddOtherAdults(int count, int elderly) {
  while (count > 0) {
    const int size = count >= 2 && rng_.Chance(5500) ? 2 : 1;
    const int r = rng_.Range(0, 9999);
    const int h = AddHousehold(0, r < 8000 ? 0 : r < 8600 ? 1 : 2);
    const bool old = elderly > 0;
    // The elderly: 65-98, fewer at each older age (the minimum of two uniform draws).
    const int age = old ? 65 + std::min(rng_.Range(0, 33), rng_.Range(0, 33)) : rng_.Range(18, 64);
    const bool female = rng_.Chance(old ? 5800 : 5000);
    const uint8_t name = static_cast<uint8_t>(rng_.Below(24));
    households_[static_cast<size_t>(h)].adults[0] =
        AddPerson(BirthIn(year_ - age - 1), female, h, name);
    if (size == 2) {
      const int age2 = std::max(18, age + rng_.Range(-5, 5));
      households_[static_cast<size_t>(h)].adults[1] =
          AddPerson(BirthIn(year_ - age2 - 1), !female, h, name);
    }
    count -= size;
    elderly -= size;
  }
}

Status DemoCityModel::Build() {
  const int n = o_.residents;
  const int per_cohort = static_cast<int>((static_cast<int64_t>(n) * 11 + 500) / 1000);
  std::vector<int> remaining(18, per_cohort);
  // This year's cohort is born up to today only.
  const int day_of_year = o_.today.days - Date::FromYmd(year_, 1, 1).days + 1;
  remaining[0] = per_cohort * day_of_year / DaysInYear(year_);
  int total = 0;
  for (int r : remaining) total += r;
  while (total > 0) AddFamily(remaining, total);
  const int rest = n - static_cast<int>(people_.size());
  if (rest < 0) return Status::Internal("demo city: families outgrew the population");
  AddOtherAdults(rest, std::min(rest, n * 22 / 100));

  for (const Household& h : households_) {
    const int members =
        (h.adults[0] >= 0) + (h.adults[1] >= 0) + static_cast<int>(h.children.size());
    if (h.place == 1) stats_.other_municipality += members;
    if (h.address_protected) stats_.address_protected += members;
    if (!h.children.empty()) ++stats_.families;
  }
  for (const Person& p : people_) {
    if (AgeAt(p.birth, o_.today) < 18) ++stats_.children;
    if (p.birth.year() == year_ - 6) {
      ++stats_.preprimary_cohort;
      if (households_[static_cast<size_t>(p.household)].place == 0)
        ++stats_.preprimary_cohort_in_city;
      if (p.preschool) ++stats_.preprimary_placed;
    }
  }
  stats_.residents = static_cast<int>(people_.size());
  stats_.households = static_cast<int>(households_.size());
  return Status::Ok();
}

// --- records -------------------------------------------------------------------------------------

std::string DemoCityModel::Phone(int index) const {
  // index -> 7 digits is a bijection (7919 is coprime with 10^7), so numbers never repeat.
  const uint64_t digits = (static_cast<uint64_t>(index) * 7919 + phone_offset_) % 10'000'000;
  return fmt::format("+35850{:07d}", digits);
}

std::string DemoCityModel::Email(int person) const {
  const Person& p = people_[static_cast<size_t>(person)];
  const auto& names = kNames[households_[static_cast<size_t>(p.household)].language];
  return fmt::format("{}.{}.{}@example.fi", Ascii((p.female ? names.female : names.male)[p.first]),
                     Ascii(names.last[p.last]), person);
}

Json DemoCityModel::Group(const char* name, const char* attr) const {
  Json g;
  g["tietoryhma"] = name;
  if (attr) g["muutosattribuutti"] = attr;
  return g;
}

Json DemoCityModel::Record(const Person& p, std::optional<Date> change) const {
  Json r;
  r["henkilotunnus"] = p.hetu;
  if (change) r["muutospv"] = change->ToString();
  r["tietoryhmat"] = Json::array();
  return r;
}

Json DemoCityModel::AddressGroup(const Household& h, const char* attr) const {
  Json g = Group("VAKINAINEN_KOTIMAINEN_OSOITE", attr);
  std::string street = fmt::format("{} {}", kStreets[static_cast<size_t>(h.street)], h.number);
  if (h.apartment > 0) street += fmt::format(" {} {}", h.stair, h.apartment);
  g["katuosoite"] = street;
  g["postinumero"] = h.postal_code;
  g["postitoimipaikka"] = places_[h.place].post_office;
  return g;
}

Json DemoCityModel::ContactGroup(const Person& p, const char* attr) const {
  Json g = Group("YHTEYSTIEDOT", attr);
  if (p.phone >= 0) g["puhelin"] = Phone(p.phone);
  if (p.email) g["sahkoposti"] = Email(static_cast<int>(&p - people_.data()));
  return g;
}

Json DemoCityModel::CustodyGroup(const char* group, const Person& other, Date start,
                                 const char* attr, std::optional<Date> end) const {
  Json g = Group(group, attr);
  g["henkilotunnus"] = other.hetu;
  g["huoltosuhteenAlkupv"] = DateValue(start);
  if (end) g["huoltosuhteenLoppupv"] = DateValue(*end);
  return g;
}

Json DemoCityModel::FullRecord(int person, const char* attr, std::optional<Date> change) const {
  const Person& p = people_[static_cast<size_t>(person)];
  const Household& h = households_[static_cast<size_t>(p.household)];
  const auto& names = kNames[h.language];
  Json r = Record(p, change);
  Json& groups = r["tietoryhmat"];
  Json name = Group("HENKILON_NIMI", attr);
  const auto& given = p.female ? names.female : names.male;
  name["etunimet"] = p.second == 255 ? std::string(given[p.first])
                                     : fmt::format("{} {}", given[p.first], given[p.second]);
  name["sukunimi"] = names.last[p.last];
  groups.push_back(std::move(name));
  Json home = Group("KOTIKUNTA", attr);
  home["kuntakoodi"] = places_[h.place].code;
  home["kuntaanMuuttopv"] = DateValue(p.resident_since);
  groups.push_back(std::move(home));
  if (h.address_protected) {
    Json t = Group("TURVAKIELTO", attr);
    t["turvakieltoAktiivinen"] = true;
    groups.push_back(std::move(t));
  } else {
    groups.push_back(AddressGroup(h, attr));
  }
  Json lang = Group("AIDINKIELI", attr);
  lang["kielikoodi"] = h.language == 0 ? "fi" : h.language == 1 ? "sv" : "en";
  groups.push_back(std::move(lang));
  const bool adult = person == h.adults[0] || person == h.adults[1];
  if (adult) {
    for (int c : h.children) {
      const Person& child = people_[static_cast<size_t>(c)];
      groups.push_back(CustodyGroup("HUOLLETTAVA_SUPPEA", child, child.birth, attr, std::nullopt));
    }
    if (p.phone >= 0 || p.email) groups.push_back(ContactGroup(p, attr));
  } else {
    for (int a : h.adults) {
      if (a < 0) continue;
      groups.push_back(CustodyGroup("HUOLTAJA_SUPPEA", people_[static_cast<size_t>(a)], p.birth,
                                    attr, std::nullopt));
    }
  }
  if (p.ecec_start) {
    Json s = Group("SIJOITUS", attr);
    s["laji"] = "varhaiskasvatus";
    s["alkupv"] = DateValue(*p.ecec_start);
    groups.push_back(std::move(s));
  }
  if (p.preschool) {
    Json s = Group("SIJOITUS", attr);
    s["laji"] = "esiopetus";
    s["alkupv"] = DateValue(Date::FromYmd(year_, 8, 11));
    s["loppupv"] = DateValue(Date::FromYmd(year_ + 1, 5, 31));
    groups.push_back(std::move(s));
  }
  return r;
}

std::vector<std::string> DemoCityModel::SnapshotLines() {
  std::vector<std::string> lines;
  lines.reserve(people_.size());
  for (const Household& h : households_) {
    for (int a : h.adults) {
      if (a >= 0) lines.push_back(FullRecord(a, nullptr, std::nullopt).dump());
    }
    for (int c : h.children) lines.push_back(FullRecord(c, nullptr, std::nullopt).dump());
  }
  return lines;
}

}  // namespace ennakko::demo
