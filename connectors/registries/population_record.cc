#include "connectors/registries/population_record.h"

#include <fmt/format.h>

#include <simdjson.h>

#include <algorithm>

namespace ennakko {

namespace {

// A JSON value of the parsed line (simdjson's DOM: parsed in one pass, values are views into the
// parser's buffer, valid until the thread's next parse). The accessors are the few the readers
// below need; strings are copied out before ParsePopulationRecord returns.
class json {
 public:
  explicit json(simdjson::dom::element e) : e_(e) {}
  bool is_null() const { return e_.is_null(); }
  bool is_string() const { return e_.is_string(); }
  bool is_object() const { return e_.is_object(); }
  bool is_array() const { return e_.is_array(); }
  bool is_boolean() const { return e_.is_bool(); }
  std::string_view str() const {
    std::string_view v;
    return e_.get_string().get(v) ? std::string_view() : v;
  }
  bool boolean() const {
    bool b = false;
    return e_.get_bool().get(b) ? false : b;
  }
  std::optional<json> find(const char* key) const {
    simdjson::dom::element v;
    if (!e_.is_object() || e_[key].get(v)) return std::nullopt;
    return json(v);
  }
  std::vector<json> items() const {  // an array's elements
    std::vector<json> out;
    simdjson::dom::array a;
    if (e_.get_array().get(a)) return out;
    for (simdjson::dom::element x : a) out.emplace_back(x);
    return out;
  }

 private:
  simdjson::dom::element e_;
};
using MaybeJson = std::optional<json>;

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

// A present, non-null member, or nullopt.
MaybeJson Member(const json& obj, const char* key) {
  MaybeJson v = obj.find(key);
  if (!v || v->is_null()) return std::nullopt;
  return v;
}

// Reads the fields of one group entry; the first problem is kept with the group's name.
class GroupReader {
 public:
  GroupReader(const json& g, std::string_view group) : g_(g), group_(group) {}

  std::optional<std::string> String(const char* key, bool required) {
    MaybeJson v = Member(g_, key);
    if (!v) {
      if (required) Fail(fmt::format("{} is missing", key));
      return std::nullopt;
    }
    if (!v->is_string()) {
      Fail(fmt::format("{} must be a string", key));
      return std::nullopt;
    }
    std::string s(v->str());
    if (s.empty() && required) {
      Fail(fmt::format("{} is empty", key));
      return std::nullopt;
    }
    return s;
  }

  // A VTJ date {"arvo": "YYYY-MM-DD", "tarkkuus": "PAIVA"}.
  std::optional<Date> DateValue(const char* key, bool required) {
    MaybeJson v = Member(g_, key);
    if (!v) {
      if (required) Fail(fmt::format("{} is missing", key));
      return std::nullopt;
    }
    MaybeJson arvo = v->is_object() ? Member(*v, "arvo") : std::nullopt;
    if (!arvo || !arvo->is_string()) {
      Fail(fmt::format("{} must be an object {{\"arvo\": \"YYYY-MM-DD\", ...}}", key));
      return std::nullopt;
    }
    if (MaybeJson t = Member(*v, "tarkkuus")) {
      if (!t->is_string() || t->str() != "PAIVA") {
        Fail(fmt::format("{}.tarkkuus must be PAIVA", key));
        return std::nullopt;
      }
    }
    auto d = Date::Parse(arvo->str());
    if (!d) Fail(fmt::format("{}.arvo is not a valid date", key));
    return d;
  }

  std::optional<bool> Bool(const char* key) {
    MaybeJson v = Member(g_, key);
    if (!v || !v->is_boolean()) {
      Fail(fmt::format("{} must be true or false", key));
      return std::nullopt;
    }
    return v->boolean();
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

// A name that VTJ gives in Finnish and Swedish ({"fi", "sv"}) or, in the file drop, as a string.
std::optional<std::string> LocalisedString(GroupReader& r, const json& g, const char* key,
                                           bool required) {
  MaybeJson v = Member(g, key);
  if (v && v->is_object()) {
    for (const char* lang : {"fi", "sv"}) {
      if (MaybeJson s = Member(*v, lang); s && s->is_string() && !s->str().empty()) {
        return std::string(s->str());
      }
    }
    r.Fail(fmt::format("{} has neither fi nor sv", key));
    return std::nullopt;
  }
  return r.String(key, required);
}

// An address: the file drop's {katuosoite, postinumero, postitoimipaikka} or VTJ's {katunimi{fi,sv},
// katunumero, huoneistokirjain, huoneistonumero, postinumero, postitoimipaikka{fi,sv}}; a postal
// address (KOTIMAINEN_POSTIOSOITE) may instead give postiosoite (a P.O. box, say).
std::optional<PostalAddress> ReadAddress(GroupReader& r, const json& g, bool postal) {
  std::optional<std::string> street;
  if (postal && Member(g, "postiosoite")) {
    street = LocalisedString(r, g, "postiosoite", true);
  } else if (Member(g, "katunimi")) {
    street = LocalisedString(r, g, "katunimi", true);
    for (const char* part : {"katunumero", "huoneistokirjain", "huoneistonumero"}) {
      if (auto v = r.String(part, false); v && street && !v->empty()) {
        // VTJ pads the flat number with zeros ("001"); an address shows it without them.
        std::string text = *v;
        if (std::string_view(part) == "huoneistonumero") {
          while (text.size() > 1 && text[0] == '0') text.erase(0, 1);
        }
        *street += " " + text;
      }
    }
  } else {
    street = r.String("katuosoite", true);
  }
  auto code = r.String("postinumero", true);
  auto office = LocalisedString(r, g, "postitoimipaikka", true);
  if (code && (code->size() != 5 || !AllDigits(*code))) r.Fail("postinumero must be five digits");
  if (!r.error().ok() || !street || !code || !office) return std::nullopt;
  return PostalAddress{*street, *code, *office};
}

// The other party's identity code: VTJ nests it ({"huoltaja": {"henkilotunnus"}}); the file drop
// states it flat.
std::optional<std::string> PartyCode(GroupReader& r, const json& g, const char* party) {
  if (MaybeJson p = Member(g, party)) {
    MaybeJson code = p->is_object() ? Member(*p, "henkilotunnus") : std::nullopt;
    if (!code || !code->is_string()) {
      r.Fail(fmt::format("{}.henkilotunnus is missing", party));
      return std::nullopt;
    }
    return std::string(code->str());
  }
  return r.String("henkilotunnus", true);
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
    // VTJ's change interface names it etunimi; the file drop's first format etunimet.
    auto first = r.String(Member(g, "etunimi") ? "etunimi" : "etunimet", true);
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
    auto address = ReadAddress(r, g, /*postal=*/false);
    if (r.error().ok()) u.address.Set(*address);
  } else if (name == "KOTIMAINEN_POSTIOSOITE") {
    if (!set) {
      rec.postal_address.Clear();
      return Status::Ok();
    }
    auto address = ReadAddress(r, g, /*postal=*/true);
    if (r.error().ok()) rec.postal_address.Set(*address);
  } else if (name == "LAPSI") {
    auto code = PartyCode(r, g, "lapsi");
    if (code) {
      auto h = ParseHetu(*code);
      if (!h.ok()) {
        r.Fail(fmt::format("henkilotunnus: {}", h.status().message()));
      } else if (h->code == rec.subject.code) {
        r.Fail("henkilotunnus names the person themself");
      } else {
        rec.children.push_back(ChildChange{change, std::move(h).value()});
      }
    }
  } else if (name == "HENKILOTUNNUS_KORJAUS") {
    // [client] shape: on the former code's record, {voimassaolo: AKTIIVI|PASSIIVI,
    // aktiivinenHenkilotunnus, muutettuHenkilotunnus, edellisetHenkilotunnukset: [...]}. Only the
    // active entry moves the person; passive ones list earlier codes and change nothing here.
    auto validity = r.String("voimassaolo", false);
    if (!set || (validity && *validity != "AKTIIVI")) return r.error();
    auto active = r.String("aktiivinenHenkilotunnus", true);
    if (!r.error().ok()) return r.error();
    auto h = ParseHetu(*active);
    if (!h.ok()) return Status::Invalid(fmt::format("{}: aktiivinenHenkilotunnus: {}", name,
                                                    h.status().message()));
    std::vector<std::string> former;
    if (MaybeJson prev = Member(g, "edellisetHenkilotunnukset")) {
      if (!prev->is_array()) r.Fail("edellisetHenkilotunnukset must be an array");
      for (const json& c : prev->items()) {
        if (!c.is_string() || !ParseHetu(c.str()).ok()) {
          r.Fail("edellisetHenkilotunnukset holds an invalid identity code");
          break;
        }
        former.push_back(std::string(c.str()));
      }
    }
    if (!r.error().ok()) return r.error();
    if (h->code != rec.subject.code) former.push_back(rec.subject.code);
    for (auto& f : former) {
      if (f != h->code && std::find(rec.former_codes.begin(), rec.former_codes.end(), f) ==
                              rec.former_codes.end()) {
        rec.former_codes.push_back(std::move(f));
      }
    }
    rec.subject = std::move(h).value();
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
    if (auto code = PartyCode(r, g, name == "HUOLTAJA_SUPPEA" ? "huoltaja" : "huollettava")) {
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
  // One parser per thread (the batch reader parses on its own thread); it keeps its buffers.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(line.data(), line.size(), /*realloc_if_needed=*/true).get(root)) {
    return Status::Invalid("not valid JSON");
  }
  json doc(root);
  if (!doc.is_object()) return Status::Invalid("a record must be a JSON object");
  PopulationRecord rec;

  MaybeJson code = Member(doc, "henkilotunnus");
  if (!code || !code->is_string())
    return Status::Invalid("henkilotunnus is missing or not a string");
  auto hetu = ParseHetu(code->str());
  if (!hetu.ok()) return Status::Invalid(fmt::format("henkilotunnus: {}", hetu.status().message()));
  rec.subject = std::move(hetu).value();

  if (MaybeJson pv = Member(doc, "muutospv")) {
    // A date, or (as VTJ sends it) a timestamp whose date part is the change date.
    std::optional<Date> d;
    if (pv->is_string()) {
      std::string_view text = pv->str();
      if (text.size() == 10 || (text.size() > 10 && text[10] == 'T')) {
        d = Date::Parse(std::string_view(text).substr(0, 10));
      }
    }
    if (!d) return Status::Invalid("muutospv must be a date string YYYY-MM-DD");
    rec.change_date = d;
  } else if (kind == BatchKind::kChanges) {
    return Status::Invalid("muutospv is missing");
  }

  MaybeJson groups = Member(doc, "tietoryhmat");
  if (!groups || !groups->is_array()) return Status::Invalid("tietoryhmat must be an array");
  size_t index = 0;
  for (const json& g : groups->items()) {
    ++index;
    if (!g.is_object())
      return Status::Invalid(fmt::format("tietoryhmat[{}] is not an object", index));
    MaybeJson name = Member(g, "tietoryhma");
    if (!name || !name->is_string()) {
      return Status::Invalid(fmt::format("tietoryhmat[{}]: tietoryhma is missing", index));
    }
    std::string_view group = name->str();
    GroupChange change = GroupChange::kSet;
    if (MaybeJson attr = Member(g, "muutosattribuutti")) {
      auto c = attr->is_string() ? ChangeOf(attr->str()) : std::nullopt;
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
