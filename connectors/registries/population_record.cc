#include "connectors/registries/population_record.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace ennakko {

namespace {

using nlohmann::json;

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

// A present, non-null member, or nullptr.
const json* Member(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

// Reads the fields of one group entry; the first problem is kept with the group's name.
class GroupReader {
 public:
  GroupReader(const json& g, std::string_view group) : g_(g), group_(group) {}

  std::optional<std::string> String(const char* key, bool required) {
    const json* v = Member(g_, key);
    if (!v) {
      if (required) Fail(fmt::format("{} is missing", key));
      return std::nullopt;
    }
    if (!v->is_string()) {
      Fail(fmt::format("{} must be a string", key));
      return std::nullopt;
    }
    const auto& s = v->get_ref<const std::string&>();
    if (s.empty() && required) {
      Fail(fmt::format("{} is empty", key));
      return std::nullopt;
    }
    return s;
  }

  // A VTJ date {"arvo": "YYYY-MM-DD", "tarkkuus": "PAIVA"}.
  std::optional<Date> DateValue(const char* key, bool required) {
    const json* v = Member(g_, key);
    if (!v) {
      if (required) Fail(fmt::format("{} is missing", key));
      return std::nullopt;
    }
    const json* arvo = v->is_object() ? Member(*v, "arvo") : nullptr;
    if (!arvo || !arvo->is_string()) {
      Fail(fmt::format("{} must be an object {{\"arvo\": \"YYYY-MM-DD\", ...}}", key));
      return std::nullopt;
    }
    if (const json* t = Member(*v, "tarkkuus")) {
      if (!t->is_string() || t->get_ref<const std::string&>() != "PAIVA") {
        Fail(fmt::format("{}.tarkkuus must be PAIVA", key));
        return std::nullopt;
      }
    }
    auto d = Date::Parse(arvo->get_ref<const std::string&>());
    if (!d) Fail(fmt::format("{}.arvo is not a valid date", key));
    return d;
  }

  std::optional<bool> Bool(const char* key) {
    const json* v = Member(g_, key);
    if (!v || !v->is_boolean()) {
      Fail(fmt::format("{} must be true or false", key));
      return std::nullopt;
    }
    return v->get<bool>();
  }

  void Fail(std::string what) {
    if (error_.ok()) error_ = Status::Invalid(fmt::format("{}: {}", group_, what));
  }
  const Status& error() const { return error_; }

 private:
  const json& g_;
  std::string_view group_;
  Status error_;
};

std::optional<GroupChange> ChangeOf(std::string_view attr) {
  if (attr == "LISATTY" || attr == "MUUTETTU" || attr == "KORJATTU" || attr == "LISATIETO") {
    return GroupChange::kSet;
  }
  if (attr == "POISTETTU") return GroupChange::kRemove;
  if (attr == "KORJATTAVA") return GroupChange::kNoChange;
  return std::nullopt;
}

bool LooksLikeGroupName(std::string_view s) {
  if (s.empty() || s.size() > 40) return false;
  for (char c : s) {
    if (!((c >= 'A' && c <= 'Z') || c == '_')) return false;
  }
  return true;
}

bool IsE164(std::string_view s) {
  return s.size() >= 8 && s.size() <= 16 && s[0] == '+' && s[1] >= '1' && s[1] <= '9' &&
         AllDigits(s.substr(1));
}

bool IsEmail(std::string_view s) {
  auto at = s.find('@');
  return at != std::string_view::npos && at > 0 && at + 1 < s.size() &&
         s.find('@', at + 1) == std::string_view::npos && s.find(' ') == std::string_view::npos;
}

bool IsLanguageCode(std::string_view s) {
  if (s.size() < 2 || s.size() > 3) return false;
  for (char c : s) {
    if (c < 'a' || c > 'z') return false;
  }
  return true;
}

// Applies one group entry to `rec`; returns its error, if any.
Status ApplyGroup(const json& g, GroupChange change, std::string_view name, PopulationRecord& rec) {
  GroupReader r(g, name);
  ResidentUpdate& u = rec.update;
  const bool set = change == GroupChange::kSet;
  if (name == "HENKILON_NIMI") {
    if (!set) {
      u.name.Clear();
      return Status::Ok();
    }
    auto first = r.String("etunimet", true);
    auto last = r.String("sukunimi", true);
    if (r.error().ok()) u.name.Set(PersonName{*first, *last});
  } else if (name == "KUOLINPAIVA") {
    if (!set) {
      u.death_date.Clear();
      return Status::Ok();
    }
    if (auto d = r.DateValue("kuolinpv", true)) u.death_date.Set(*d);
  } else if (name == "KOTIKUNTA") {
    if (!set) {
      u.residence.Clear();
      return Status::Ok();
    }
    auto code = r.String("kuntakoodi", true);
    if (code && (code->size() != 3 || !AllDigits(*code))) r.Fail("kuntakoodi must be three digits");
    auto since = r.DateValue("kuntaanMuuttopv", false);
    if (r.error().ok()) u.residence.Set(Residence{*code, since});
  } else if (name == "VAKINAINEN_KOTIMAINEN_OSOITE") {
    if (!set) {
      u.address.Clear();
      return Status::Ok();
    }
    auto street = r.String("katuosoite", true);
    auto postal = r.String("postinumero", true);
    auto office = r.String("postitoimipaikka", true);
    if (postal && (postal->size() != 5 || !AllDigits(*postal))) {
      r.Fail("postinumero must be five digits");
    }
    if (r.error().ok()) u.address.Set(PostalAddress{*street, *postal, *office});
  } else if (name == "TURVAKIELTO") {
    if (!set) {
      u.address_protected = false;
      return Status::Ok();
    }
    if (auto active = r.Bool("turvakieltoAktiivinen")) u.address_protected = *active;
  } else if (name == "AIDINKIELI") {
    if (!set) {
      u.language.Clear();
      return Status::Ok();
    }
    auto code = r.String("kielikoodi", true);
    if (code && !IsLanguageCode(*code)) r.Fail("kielikoodi must be an ISO 639 code (fi, sv, en)");
    if (r.error().ok()) u.language.Set(*code);
  } else if (name == "YHTEYSTIEDOT") {
    // The city's customer register, not VTJ. The entry states the whole group: a field that is
    // absent or null is cleared.
    if (!set) {
      u.phone.Clear();
      u.email.Clear();
      return Status::Ok();
    }
    auto phone = r.String("puhelin", false);
    auto email = r.String("sahkoposti", false);
    if (phone && !IsE164(*phone)) r.Fail("puhelin must be an E.164 number (+358...)");
    if (email && !IsEmail(*email)) r.Fail("sahkoposti is not an email address");
    if (!r.error().ok()) return r.error();
    phone ? u.phone.Set(*phone) : u.phone.Clear();
    email ? u.email.Set(*email) : u.email.Clear();
  } else if (name == "HUOLTAJA_SUPPEA" || name == "HUOLLETTAVA_SUPPEA") {
    CustodyChange c;
    c.other_is =
        name == "HUOLTAJA_SUPPEA" ? CustodyChange::Other::kGuardian : CustodyChange::Other::kWard;
    c.change = change;
    if (auto code = r.String("henkilotunnus", true)) {
      auto h = ParseHetu(*code);
      if (!h.ok()) r.Fail(fmt::format("henkilotunnus: {}", h.status().message()));
      if (*code == rec.subject.code) r.Fail("henkilotunnus names the person themself");
      c.other_hetu = *code;
    }
    c.start = r.DateValue("huoltosuhteenAlkupv", false);
    c.end = r.DateValue("huoltosuhteenLoppupv", false);
    if (r.error().ok()) rec.custody.push_back(std::move(c));
  } else if (name == "SIJOITUS") {
    // The city's education systems, not VTJ.
    PlacementChange p;
    p.change = change;
    if (auto laji = r.String("laji", true)) {
      auto kind = PlacementKindOf(*laji);
      if (!kind) r.Fail("laji must be esiopetus or varhaiskasvatus");
      p.kind = kind.value_or("");
    }
    p.start = r.DateValue("alkupv", true).value_or(Date{});
    p.end = r.DateValue("loppupv", false);
    if (r.error().ok()) rec.placements.push_back(std::move(p));
  } else {
    rec.unknown_groups.emplace_back(LooksLikeGroupName(name) ? name : "(unreadable name)");
  }
  return r.error();
}

}  // namespace

std::optional<std::string> PlacementKindOf(std::string_view laji) {
  if (laji == "esiopetus") return "preschool";
  if (laji == "varhaiskasvatus") return "ecec";
  return std::nullopt;
}

Result<PopulationRecord> ParsePopulationRecord(std::string_view line, BatchKind kind) {
  json doc = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status::Invalid("not valid JSON");
  if (!doc.is_object()) return Status::Invalid("a record must be a JSON object");
  PopulationRecord rec;

  const json* code = Member(doc, "henkilotunnus");
  if (!code || !code->is_string())
    return Status::Invalid("henkilotunnus is missing or not a string");
  auto hetu = ParseHetu(code->get_ref<const std::string&>());
  if (!hetu.ok()) return Status::Invalid(fmt::format("henkilotunnus: {}", hetu.status().message()));
  rec.subject = std::move(hetu).value();

  if (const json* pv = Member(doc, "muutospv")) {
    auto d = pv->is_string() ? Date::Parse(pv->get_ref<const std::string&>()) : std::nullopt;
    if (!d) return Status::Invalid("muutospv must be a date string YYYY-MM-DD");
    rec.change_date = d;
  } else if (kind == BatchKind::kChanges) {
    return Status::Invalid("muutospv is missing");
  }

  const json* groups = Member(doc, "tietoryhmat");
  if (!groups || !groups->is_array()) return Status::Invalid("tietoryhmat must be an array");
  size_t index = 0;
  for (const json& g : *groups) {
    ++index;
    if (!g.is_object())
      return Status::Invalid(fmt::format("tietoryhmat[{}] is not an object", index));
    const json* name = Member(g, "tietoryhma");
    if (!name || !name->is_string()) {
      return Status::Invalid(fmt::format("tietoryhmat[{}]: tietoryhma is missing", index));
    }
    const std::string& group = name->get_ref<const std::string&>();
    GroupChange change = GroupChange::kSet;
    if (const json* attr = Member(g, "muutosattribuutti")) {
      auto c = attr->is_string() ? ChangeOf(attr->get_ref<const std::string&>()) : std::nullopt;
      if (!c) {
        return Status::Invalid(fmt::format("tietoryhmat[{}] ({}): unknown muutosattribuutti", index,
                                           LooksLikeGroupName(group) ? group : "?"));
      }
      change = *c;
    } else if (kind == BatchKind::kChanges) {
      return Status::Invalid(fmt::format("tietoryhmat[{}] ({}): muutosattribuutti is missing",
                                         index, LooksLikeGroupName(group) ? group : "?"));
    }
    if (change == GroupChange::kNoChange) continue;
    Status st = ApplyGroup(g, change, group, rec);
    if (!st.ok()) return Status::Invalid(fmt::format("tietoryhmat[{}] {}", index, st.message()));
  }
  return rec;
}

}  // namespace ennakko
