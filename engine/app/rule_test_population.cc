#include "engine/app/rule_test_population.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "engine/lang/ast.h"
#include "engine/store/consents.h"

namespace ennakko {

namespace {

using nlohmann::json;

struct GuardianDraft {
  std::string name;
  std::string pointer;  // where the name is written, for "no such resident"
  std::optional<Date> start, end;
};

struct PlacementDraft {
  std::string kind;
  int32_t start = kNoDate;
  int32_t end = kNoDate;
};

struct IncomeDraft {
  std::string type;
  int64_t amount_micros = 0;
  int32_t start = kNoDate;
  int32_t end = kNoDate;
};

struct ConsentDraft {
  std::string purpose;
  int32_t from = kNoDate;   // first day it counts
  int32_t until = kNoDate;  // first day it no longer counts (expiry or revocation)
};

// Everything a test can say about one resident, before store ids are known.
struct ResidentDraft {
  int32_t birth = kNoDate;
  int32_t death = kNoDate;
  std::string municipality;  // "" = not held
  std::string language;      // "" = not held
  bool address_protected = false;
  std::string household;  // residents with the same label share a permanent address
  std::vector<GuardianDraft> guardians;
  std::vector<PlacementDraft> placements;
  bool incomes_held = false;  // `incomes: []` is held (no income); absent or null is not held
  std::vector<IncomeDraft> incomes;
  std::vector<ConsentDraft> consents;
};

struct Reader {
  const YamlDocument& doc;
  Diagnostics& diags;
  const json& residents;  // the case's residents mapping: the names a guardian may refer to

  const json& At(const std::string& ptr) const { return doc.json().at(json::json_pointer(ptr)); }
  bool Fail(const std::string& ptr, const std::string& message, const std::string& hint = {}) const {
    diags.Error(doc.At(ptr), message, hint);
    return false;
  }
  bool ReadDate(const std::string& ptr, const char* what, int32_t* out) const {
    const json& v = At(ptr);
    if (v.is_null()) return true;  // not held (or open-ended)
    auto d = v.is_string() ? Date::Parse(v.get<std::string>()) : std::nullopt;
    if (!d) return Fail(ptr, fmt::format("{} must be a date YYYY-MM-DD, got {}", what, v.dump()));
    *out = d->days;
    return true;
  }
  bool ReadOptDate(const std::string& ptr, const char* what, std::optional<Date>* out) const {
    int32_t days = kNoDate;
    if (!ReadDate(ptr, what, &days)) return false;
    if (days != kNoDate) *out = Date{days};
    return true;
  }
  bool ReadString(const std::string& ptr, const char* what, std::string* out, const char* hint = "") const {
    const json& v = At(ptr);
    if (v.is_null()) return true;
    if (!v.is_string() || v.get<std::string>().empty()) {
      return Fail(ptr, fmt::format("{} must be a non-empty string, got {}", what, v.dump()), hint);
    }
    *out = v.get<std::string>();
    return true;
  }
  // Checks that the object at `ptr` has only `allowed` keys.
  bool Keys(const std::string& ptr, std::initializer_list<const char*> allowed, const char* what) const {
    bool ok = true;
    std::string list;
    for (const char* k : allowed) list += (list.empty() ? "" : ", ") + std::string(k);
    for (const auto& [key, _] : At(ptr).items()) {
      bool known = false;
      for (const char* k : allowed) known = known || key == k;
      if (!known)
        ok = Fail(ptr + "/" + JsonPointerEscape(key) + "#key", fmt::format("unknown key '{}' in {}", key, what),
                  "allowed: " + list);
    }
    return ok;
  }
};

bool ReadGuardians(const Reader& r, const std::string& ptr, ResidentDraft& d) {
  const json& v = r.At(ptr);
  if (!v.is_array()) return r.Fail(ptr, "guardians must be a list of resident names");
  bool ok = true;
  for (size_t i = 0; i < v.size(); ++i) {
    std::string item = ptr + "/" + std::to_string(i);
    GuardianDraft g{.name = {}, .pointer = item, .start = {}, .end = {}};
    if (v[i].is_string()) {
      g.name = v[i].get<std::string>();
    } else if (v[i].is_object()) {
      // {name, start_date, end_date}: custody with dates, in force only between them.
      g.pointer = item + "/name";
      ok = r.Keys(item, {"name", "start_date", "end_date"}, "a guardian") && ok;
      if (!v[i].contains("name") || !v[i]["name"].is_string()) {
        ok = r.Fail(item, "a guardian with dates needs `name`: the resident's local name");
        continue;
      }
      g.name = v[i]["name"].get<std::string>();
      if (v[i].contains("start_date")) ok = r.ReadOptDate(item + "/start_date", "start_date", &g.start) && ok;
      if (v[i].contains("end_date")) ok = r.ReadOptDate(item + "/end_date", "end_date", &g.end) && ok;
    } else {
      ok = r.Fail(item, "a guardian is a resident's local name, or {name, start_date, end_date}");
      continue;
    }
    if (!r.residents.contains(g.name)) {
      ok = r.Fail(g.pointer, "guardian '" + g.name + "' is not one of this case's residents",
                  "add them under residents (with no facts: `" + g.name + ": {}`)");
      continue;
    }
    d.guardians.push_back(std::move(g));
  }
  return ok;
}

bool ReadPlacements(const Reader& r, const std::string& ptr, ResidentDraft& d) {
  const json& v = r.At(ptr);
  if (!v.is_array()) return r.Fail(ptr, "placements must be a list of {kind, start_date, end_date}");
  bool ok = true;
  for (size_t i = 0; i < v.size(); ++i) {
    std::string item = ptr + "/" + std::to_string(i);
    if (!v[i].is_object()) {
      ok = r.Fail(item, "a placement is a mapping {kind, start_date, end_date}");
      continue;
    }
    ok = r.Keys(item, {"kind", "start_date", "end_date"}, "a placement") && ok;
    PlacementDraft p;
    if (!v[i].contains("kind"))
      ok = r.Fail(item, "a placement needs `kind`, e.g. preschool or ecec");
    else
      ok = r.ReadString(item + "/kind", "kind", &p.kind) && ok;
    if (v[i].contains("start_date")) ok = r.ReadDate(item + "/start_date", "start_date", &p.start) && ok;
    if (v[i].contains("end_date")) ok = r.ReadDate(item + "/end_date", "end_date", &p.end) && ok;
    d.placements.push_back(std::move(p));
  }
  return ok;
}

// A euro amount as a decimal in millionths: an integer, a plain decimal (3200.50) or a string.
bool ReadAmount(const Reader& r, const std::string& ptr, int64_t* micros) {
  const json& v = r.At(ptr);
  if (v.is_number_integer()) {
    *micros = v.get<int64_t>() * kDecimalScale;
    return true;
  }
  double d = 0;
  if (v.is_number_float()) {
    d = v.get<double>();
  } else if (v.is_string()) {
    size_t used = 0;
    try {
      d = std::stod(v.get<std::string>(), &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != v.get<std::string>().size())
      return r.Fail(ptr, "amount must be a number, got " + v.dump());
  } else {
    return r.Fail(ptr, "amount must be a number of euros, e.g. 3200.50, got " + v.dump());
  }
  if (std::abs(d) > 1e12) return r.Fail(ptr, "amount is out of range");
  *micros = std::llround(d * static_cast<double>(kDecimalScale));
  return true;
}

bool ReadIncomes(const Reader& r, const std::string& ptr, ResidentDraft& d) {
  const json& v = r.At(ptr);
  if (!v.is_array()) return r.Fail(ptr, "incomes must be a list of {type, amount, start_date, end_date} ([] = none)");
  d.incomes_held = true;
  bool ok = true;
  for (size_t i = 0; i < v.size(); ++i) {
    std::string item = ptr + "/" + std::to_string(i);
    if (!v[i].is_object()) {
      ok = r.Fail(item, "an income is a mapping {type, amount, start_date, end_date}");
      continue;
    }
    ok = r.Keys(item, {"type", "amount", "start_date", "end_date"}, "an income") && ok;
    IncomeDraft in;
    if (!v[i].contains("type"))
      ok = r.Fail(item, "an income needs `type`, e.g. earnings");
    else
      ok = r.ReadString(item + "/type", "type", &in.type) && ok;
    if (!v[i].contains("amount"))
      ok = r.Fail(item, "an income needs `amount` in euros");
    else
      ok = ReadAmount(r, item + "/amount", &in.amount_micros) && ok;
    if (v[i].contains("start_date")) ok = r.ReadDate(item + "/start_date", "start_date", &in.start) && ok;
    if (v[i].contains("end_date")) ok = r.ReadDate(item + "/end_date", "end_date", &in.end) && ok;
    d.incomes.push_back(std::move(in));
  }
  return ok;
}

// A consent moment: a date (the start of that day in Helsinki) or an RFC 3339 timestamp. Stores
// the Helsinki day it falls on.
bool ReadConsentMoment(const Reader& r, const std::string& ptr, const char* what, int32_t* day) {
  const json& v = r.At(ptr);
  if (v.is_null()) return true;
  if (v.is_string()) {
    if (auto d = Date::Parse(v.get<std::string>())) {
      *day = d->days;
      return true;
    }
    if (auto t = ParseTimestamp(v.get<std::string>()); t.ok()) {
      *day = HelsinkiDay(*t).days;
      return true;
    }
  }
  return r.Fail(ptr, fmt::format("{} must be a date YYYY-MM-DD or an RFC 3339 timestamp, got {}", what, v.dump()));
}

bool ReadConsents(const Reader& r, const std::string& ptr, ResidentDraft& d) {
  const json& v = r.At(ptr);
  if (!v.is_array()) return r.Fail(ptr, "consents must be a list of {purpose, granted_at, expires_at, revoked_at}");
  bool ok = true;
  for (size_t i = 0; i < v.size(); ++i) {
    std::string item = ptr + "/" + std::to_string(i);
    if (!v[i].is_object()) {
      ok = r.Fail(item, "a consent is a mapping {purpose, granted_at, expires_at, revoked_at}");
      continue;
    }
    ok = r.Keys(item, {"purpose", "granted_at", "expires_at", "revoked_at"}, "a consent") && ok;
    ConsentDraft c;
    if (!v[i].contains("purpose")) {
      ok = r.Fail(item, "a consent needs `purpose`, e.g. ecec-fee-income");
    } else {
      ok = r.ReadString(item + "/purpose", "purpose", &c.purpose) && ok;
      Status valid = c.purpose.empty() ? Status::Ok() : ValidatePurpose(c.purpose);
      if (!valid.ok()) ok = r.Fail(item + "/purpose", valid.message());
    }
    if (!v[i].contains("granted_at") || v[i]["granted_at"].is_null()) {
      ok = r.Fail(item, "a consent needs `granted_at`, a date or a timestamp");
    } else {
      ok = ReadConsentMoment(r, item + "/granted_at", "granted_at", &c.from) && ok;
    }
    for (const char* end : {"expires_at", "revoked_at"}) {
      if (!v[i].contains(end)) continue;
      int32_t day = kNoDate;
      ok = ReadConsentMoment(r, item + "/" + end, end, &day) && ok;
      if (day != kNoDate) c.until = c.until == kNoDate ? day : std::min(c.until, day);
    }
    d.consents.push_back(std::move(c));
  }
  return ok;
}

// The one table of settable resident fields: name -> how to read it into a draft. The values go
// into the PopulationBuilder in BuildTestPopulation below.
struct FieldReader {
  const char* name;
  bool (*read)(const Reader&, const std::string& ptr, ResidentDraft&);
};

const std::vector<FieldReader>& FieldReaders() {
  static const std::vector<FieldReader> kFields = {
      {"birth_date",
       [](const Reader& r, const std::string& p, ResidentDraft& d) { return r.ReadDate(p, "birth_date", &d.birth); }},
      {"death_date",
       [](const Reader& r, const std::string& p, ResidentDraft& d) { return r.ReadDate(p, "death_date", &d.death); }},
      {"municipality",
       [](const Reader& r, const std::string& p, ResidentDraft& d) {
         return r.ReadString(p, "municipality", &d.municipality,
                             "municipality codes are strings: quote them, e.g. municipality: \"091\"");
       }},
      {"language",
       [](const Reader& r, const std::string& p, ResidentDraft& d) {
         return r.ReadString(p, "language", &d.language, "an ISO 639-1 code, e.g. fi, sv, en");
       }},
      {"address_protected",
       [](const Reader& r, const std::string& p, ResidentDraft& d) {
         const json& v = r.At(p);
         if (v.is_null()) return true;
         if (!v.is_boolean()) return r.Fail(p, "address_protected must be true or false, got " + v.dump());
         d.address_protected = v.get<bool>();
         return true;
       }},
      {"household",
       [](const Reader& r, const std::string& p, ResidentDraft& d) {
         return r.ReadString(p, "household", &d.household,
                             "a label shared by the residents who live at the same address, e.g. household: home");
       }},
      {"guardians", ReadGuardians},
      {"placements", ReadPlacements},
      {"incomes", ReadIncomes},
      {"consents", ReadConsents},
  };
  return kFields;
}

}  // namespace

std::vector<std::string> TestResidentFieldNames() {
  std::vector<std::string> names;
  for (const auto& f : FieldReaders()) names.emplace_back(f.name);
  return names;
}

Result<TestPopulation> BuildTestPopulation(const YamlDocument& doc, const std::string& pointer, Date at,
                                           Diagnostics& diags) {
  const json& residents = doc.json().at(json::json_pointer(pointer));
  Reader r{doc, diags, residents};
  if (!residents.is_object() || residents.empty()) {
    r.Fail(pointer, "residents must be a mapping from local names to their facts",
           "e.g. residents: {child: {birth_date: 2020-05-05, municipality: \"091\", guardians: [mother]}, ...}");
    return Status::Invalid("malformed residents");
  }
  std::string field_list;
  for (const auto& name : TestResidentFieldNames()) field_list += (field_list.empty() ? "" : ", ") + name;

  int errors_before = diags.error_count();
  std::vector<std::pair<std::string, ResidentDraft>> drafts;
  for (const auto& [name, facts] : residents.items()) {
    std::string ptr = pointer + "/" + JsonPointerEscape(name);
    ResidentDraft d;
    if (facts.is_null()) {  // a resident of whom the city holds nothing
      drafts.emplace_back(name, std::move(d));
      continue;
    }
    if (!facts.is_object()) {
      r.Fail(ptr, "resident '" + name + "' must be a mapping of facts", "fields: " + field_list);
      continue;
    }
    for (const auto& [field, _] : facts.items()) {
      std::string fptr = ptr + "/" + JsonPointerEscape(field);
      const FieldReader* reader = nullptr;
      for (const auto& f : FieldReaders()) {
        if (field == f.name) reader = &f;
      }
      if (!reader) {
        r.Fail(fptr + "#key", "unknown resident field '" + field + "'", "fields: " + field_list);
        continue;
      }
      if (!r.At(fptr).is_null()) reader->read(r, fptr, d);
    }
    if (d.address_protected && !d.household.empty()) {
      // As in the store: under a protection order the address, and so the household, is not held.
      r.Fail(ptr + "/household", "resident '" + name + "' is address-protected, so no household is held",
             "remove household, or address_protected");
    }
    drafts.emplace_back(name, std::move(d));
  }
  if (diags.error_count() > errors_before) return Status::Invalid("malformed residents");

  TestPopulation out;
  PopulationBuilder b;
  std::map<std::string, int64_t> store_id;
  int64_t consent_number = 0;
  for (size_t i = 0; i < drafts.size(); ++i) {
    const auto& [name, d] = drafts[i];
    store_id[name] = static_cast<int64_t>(i + 1);
    // Member by member, so that new Person fields keep their defaults (not held).
    PopulationBuilder::Person person;
    person.store_id = static_cast<int64_t>(i + 1);
    person.birth = d.birth;
    person.death = d.death;
    person.municipality = d.municipality;
    person.language = d.language;
    person.address_protected = d.address_protected;
    person.household_key = d.household;
    b.AddPerson(person);
  }
  for (const auto& [name, d] : drafts) {
    int64_t id = store_id[name];
    for (const auto& g : d.guardians) {
      auto it = store_id.find(g.name);  // present: names were checked while reading
      if (it->second == id) {
        r.Fail(g.pointer, "resident '" + name + "' cannot be their own guardian");
        continue;
      }
      bool in_force = (!g.start || *g.start <= at) && (!g.end || *g.end >= at);
      if (in_force) b.AddCustody(it->second, id);
    }
    for (const auto& p : d.placements) b.AddPlacement(id, p.kind, p.start, p.end);
    if (d.incomes_held) b.SetIncomesHeld(id);
    for (const auto& in : d.incomes) b.AddIncome(id, in.type, in.amount_micros, in.start, in.end);
    // Consents are numbered 1, 2, ... by resident name, then in list order (reasons name the number).
    for (const auto& c : d.consents) b.AddConsent(id, ++consent_number, c.purpose, c.from, c.until);
  }
  if (diags.error_count() > errors_before) return Status::Invalid("malformed residents");
  out.population = std::move(b).Build();
  out.name_of.resize(drafts.size());
  for (const auto& [name, id] : store_id) {
    auto idx = static_cast<PersonIndex>(out.population.IndexOf(id));
    out.index_of[name] = idx;
    out.name_of[idx] = name;
  }
  return out;
}

}  // namespace ennakko
