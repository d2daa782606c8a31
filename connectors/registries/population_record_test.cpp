#include "connectors/registries/population_record.h"

#include <catch2/catch.hpp>

using namespace ennakko;

namespace {
const std::string kChild = MakeHetu(Date::FromYmd(2020, 4, 1), 920);
const std::string kParent = MakeHetu(Date::FromYmd(1990, 7, 9), 931);

std::string Line(const std::string& groups, const std::string& code = kChild) {
  return R"({"henkilotunnus":")" + code + R"(","muutospv":"2026-03-02","tietoryhmat":[)" + groups +
         "]}";
}
}  // namespace

TEST_CASE("a change line with every handled group parses into its edits", "[registries]") {
  std::string groups =
      R"({"tietoryhma":"HENKILON_NIMI","muutosattribuutti":"LISATTY","etunimet":"Aada","sukunimi":"Testilä"},)"
      R"({"tietoryhma":"KOTIKUNTA","muutosattribuutti":"MUUTETTU","kuntakoodi":"091","kuntaanMuuttopv":{"arvo":"2020-04-01","tarkkuus":"PAIVA"}},)"
      R"({"tietoryhma":"VAKINAINEN_KOTIMAINEN_OSOITE","muutosattribuutti":"LISATTY","katuosoite":"Testikuja 1","postinumero":"00100","postitoimipaikka":"HELSINKI"},)"
      R"({"tietoryhma":"AIDINKIELI","muutosattribuutti":"LISATTY","kielikoodi":"sv"},)"
      R"({"tietoryhma":"HUOLTAJA_SUPPEA","muutosattribuutti":"LISATTY","henkilotunnus":")" +
      kParent +
      R"(","huoltosuhteenAlkupv":{"arvo":"2020-04-01","tarkkuus":"PAIVA"}},)"
      R"({"tietoryhma":"SIJOITUS","muutosattribuutti":"LISATTY","laji":"esiopetus","alkupv":{"arvo":"2026-08-01"}},)"
      R"({"tietoryhma":"YHTEYSTIEDOT","muutosattribuutti":"MUUTETTU","puhelin":"+358501234567"},)"
      R"({"tietoryhma":"SUKUPUOLI","muutosattribuutti":"LISATTY"},)"
      R"({"tietoryhma":"KUOLINPAIVA","muutosattribuutti":"KORJATTAVA","kuolinpv":"garbage"})";
  auto r = ParsePopulationRecord(Line(groups), BatchKind::kChanges);
  REQUIRE(r.ok());
  CHECK(r->subject.code == kChild);
  CHECK(r->change_date == Date::FromYmd(2026, 3, 2));
  CHECK(r->update.name.value()->last_name == "Testilä");
  CHECK(r->update.residence.value()->municipality == "091");
  CHECK(r->update.address.value()->postal_code == "00100");
  CHECK(r->update.language.value() == "sv");
  CHECK(r->update.phone.value() == "+358501234567");
  CHECK(r->update.email.touched());  // the whole group is stated: no email means none
  CHECK_FALSE(r->update.email.value().has_value());
  CHECK_FALSE(r->update.death_date.touched());  // KORJATTAVA changes nothing
  REQUIRE(r->custody.size() == 1);
  CHECK(r->custody[0].other_is == CustodyChange::Other::kGuardian);
  CHECK(r->custody[0].other_hetu == kParent);
  REQUIRE(r->placements.size() == 1);
  CHECK(r->placements[0].kind == "preschool");
  CHECK(r->unknown_groups == std::vector<std::string>{"SUKUPUOLI"});
}

TEST_CASE("POISTETTU clears; TURVAKIELTO sets protection", "[registries]") {
  auto r = ParsePopulationRecord(
      Line(
          R"({"tietoryhma":"YHTEYSTIEDOT","muutosattribuutti":"POISTETTU"},)"
          R"({"tietoryhma":"TURVAKIELTO","muutosattribuutti":"LISATTY","turvakieltoAktiivinen":true})"),
      BatchKind::kChanges);
  REQUIRE(r.ok());
  CHECK(r->update.phone.touched());
  CHECK_FALSE(r->update.phone.value().has_value());
  CHECK(r->update.address_protected == true);
}

TEST_CASE("snapshot lines need neither muutospv nor muutosattribuutti", "[registries]") {
  std::string line = R"({"henkilotunnus":")" + kChild +
                     R"(","tietoryhmat":[{"tietoryhma":"AIDINKIELI","kielikoodi":"fi"}]})";
  CHECK(ParsePopulationRecord(line, BatchKind::kSnapshot).ok());
  auto c = ParsePopulationRecord(line, BatchKind::kChanges);
  CHECK(c.status().message() == "muutospv is missing");
}

TEST_CASE("malformed records are rejected with a reason that names no value", "[registries]") {
  std::string bad_check = kChild.substr(0, 10) + (kChild[10] == 'X' ? "Y" : "X");
  struct Case {
    std::string line;
    std::string reason;
  };
  std::vector<Case> cases = {
      {"{not json", "not valid JSON"},
      {"[1,2]", "a record must be a JSON object"},
      {Line("", bad_check), "henkilotunnus: identity code check character does not match"},
      {R"({"henkilotunnus":42,"muutospv":"2026-03-02","tietoryhmat":[]})",
       "henkilotunnus is missing or not a string"},
      {R"({"henkilotunnus":")" + kChild + R"(","muutospv":"2026-02-30","tietoryhmat":[]})",
       "muutospv must be a date string YYYY-MM-DD"},
      {R"({"henkilotunnus":")" + kChild + R"(","muutospv":"2026-02-03","tietoryhmat":{}})",
       "tietoryhmat must be an array"},
      {Line(R"({"tietoryhma":"KOTIKUNTA","muutosattribuutti":"VAIHDETTU","kuntakoodi":"091"})"),
       "tietoryhmat[1] (KOTIKUNTA): unknown muutosattribuutti"},
      {Line(R"({"tietoryhma":"KOTIKUNTA","kuntakoodi":"091"})"),
       "tietoryhmat[1] (KOTIKUNTA): muutosattribuutti is missing"},
      {Line(R"({"tietoryhma":"KOTIKUNTA","muutosattribuutti":"LISATTY","kuntakoodi":91})"),
       "tietoryhmat[1] KOTIKUNTA: kuntakoodi must be a string"},
      {Line(
           R"({"tietoryhma":"KUOLINPAIVA","muutosattribuutti":"LISATTY","kuolinpv":"2026-01-01"})"),
       "tietoryhmat[1] KUOLINPAIVA: kuolinpv must be an object {\"arvo\": \"YYYY-MM-DD\", ...}"},
      {Line(
           R"({"tietoryhma":"KUOLINPAIVA","muutosattribuutti":"LISATTY","kuolinpv":{"arvo":"2026-13-01"}})"),
       "tietoryhmat[1] KUOLINPAIVA: kuolinpv.arvo is not a valid date"},
      {Line(
           R"({"tietoryhma":"KUOLINPAIVA","muutosattribuutti":"LISATTY","kuolinpv":{"arvo":"2026-01-01","tarkkuus":"VUOSI"}})"),
       "tietoryhmat[1] KUOLINPAIVA: kuolinpv.tarkkuus must be PAIVA"},
      {Line(
           R"({"tietoryhma":"TURVAKIELTO","muutosattribuutti":"LISATTY","turvakieltoAktiivinen":"yes"})"),
       "tietoryhmat[1] TURVAKIELTO: turvakieltoAktiivinen must be true or false"},
      {Line(R"({"tietoryhma":"HUOLTAJA_SUPPEA","muutosattribuutti":"LISATTY","henkilotunnus":")" +
            bad_check + R"("})"),
       "tietoryhmat[1] HUOLTAJA_SUPPEA: henkilotunnus: identity code check character does not "
       "match"},
      {Line(
           R"({"tietoryhma":"YHTEYSTIEDOT","muutosattribuutti":"LISATTY","puhelin":"0501234567"})"),
       "tietoryhmat[1] YHTEYSTIEDOT: puhelin must be an E.164 number (+358...)"},
      {Line(
           R"({"tietoryhma":"SIJOITUS","muutosattribuutti":"LISATTY","laji":"koulu","alkupv":{"arvo":"2026-08-01"}})"),
       "tietoryhmat[1] SIJOITUS: laji must be esiopetus or varhaiskasvatus"},
      {Line(
           R"({"tietoryhma":"VAKINAINEN_KOTIMAINEN_OSOITE","muutosattribuutti":"LISATTY","katuosoite":"Testikuja 1","postinumero":"1000","postitoimipaikka":"X"})"),
       "tietoryhmat[1] VAKINAINEN_KOTIMAINEN_OSOITE: postinumero must be five digits"},
  };
  for (const auto& c : cases) {
    INFO(c.line);
    auto r = ParsePopulationRecord(c.line, BatchKind::kChanges);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kInvalidArgument);
    CHECK(r.status().message() == c.reason);
  }
}

TEST_CASE("VTJ change-interface shapes: nested parties, localised names, timestamps", "[registries]") {
  std::string line =
      R"({"henkilotunnus":")" + kChild +
      R"(","muutospv":"2026-03-02T04:38:04.394Z","tietoryhmat":[)"
      R"({"tietoryhma":"HENKILON_NIMI","muutosattribuutti":"LISATTY","etunimi":"Aada","sukunimi":"Testilä"},)"
      R"({"tietoryhma":"VAKINAINEN_KOTIMAINEN_OSOITE","muutosattribuutti":"LISATTY","katunimi":{"fi":"Testikuja","sv":"Testgränd"},"katunumero":"5","huoneistokirjain":"B","huoneistonumero":"007","postinumero":"00100","postitoimipaikka":{"fi":"HELSINKI","sv":"HELSINGFORS"}},)"
      R"({"tietoryhma":"KOTIMAINEN_POSTIOSOITE","muutosattribuutti":"LISATTY","postiosoite":{"fi":"PL 12"},"postinumero":"00101","postitoimipaikka":{"fi":"HELSINKI"}},)"
      R"({"tietoryhma":"HUOLTAJA_SUPPEA","muutosattribuutti":"LISATTY","huoltaja":{"henkilotunnus":")" +
      kParent + R"("},"huoltajanRooli":"AITI","huoltajanLaji":"LAKIMAARAINEN"}]})";
  auto r = ParsePopulationRecord(line, BatchKind::kChanges);
  REQUIRE(r.ok());
  CHECK(r->change_date == Date::FromYmd(2026, 3, 2));
  CHECK(r->update.name.value()->first_names == "Aada");
  CHECK(r->update.address.value()->street == "Testikuja 5 B 7");
  CHECK(r->update.address.value()->post_office == "HELSINKI");
  CHECK(r->postal_address.value()->street == "PL 12");
  REQUIRE(r->custody.size() == 1);
  CHECK(r->custody[0].other_hetu == kParent);
  auto bad = ParsePopulationRecord(
      Line(R"({"tietoryhma":"HUOLLETTAVA_SUPPEA","muutosattribuutti":"LISATTY","huollettava":{}})",
           kParent),
      BatchKind::kChanges);
  CHECK(bad.status().message() == "tietoryhmat[1] HUOLLETTAVA_SUPPEA: huollettava.henkilotunnus is missing");
}

TEST_CASE("HENKILOTUNNUS_KORJAUS moves the record to the active code", "[registries]") {
  const std::string corrected = MakeHetu(Date::FromYmd(2020, 4, 2), 922);
  const std::string earlier = MakeHetu(Date::FromYmd(2020, 4, 3), 924);
  auto r = ParsePopulationRecord(
      Line(R"({"tietoryhma":"HENKILOTUNNUS_KORJAUS","muutosattribuutti":"LISATTY","voimassaolo":"AKTIIVI","muutettuHenkilotunnus":")" +
           corrected + R"(","aktiivinenHenkilotunnus":")" + corrected +
           R"(","edellisetHenkilotunnukset":[")" + earlier + R"("]},)"
           R"({"tietoryhma":"HENKILOTUNNUS_KORJAUS","muutosattribuutti":"MUUTETTU","voimassaolo":"PASSIIVI","aktiivinenHenkilotunnus":")" +
           corrected + R"("},)"
           R"({"tietoryhma":"AIDINKIELI","muutosattribuutti":"LISATTY","kielikoodi":"fi"})"),
      BatchKind::kChanges);
  REQUIRE(r.ok());
  CHECK(r->subject.code == corrected);
  CHECK(r->subject.birth_date == Date::FromYmd(2020, 4, 2));
  CHECK(r->former_codes == std::vector<std::string>{earlier, kChild});
  CHECK(r->update.language.value() == "fi");
  auto bad = ParsePopulationRecord(
      Line(R"({"tietoryhma":"HENKILOTUNNUS_KORJAUS","muutosattribuutti":"LISATTY","aktiivinenHenkilotunnus":"010101-0000"})"),
      BatchKind::kChanges);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("010101") == std::string::npos);  // no value in the reason
}

TEST_CASE("LAPSI names a child; POISTETTU postal address clears it", "[registries]") {
  const std::string baby = MakeHetu(Date::FromYmd(2026, 2, 20), 950);
  auto r = ParsePopulationRecord(
      Line(R"({"tietoryhma":"LAPSI","muutosattribuutti":"LISATTY","lapsi":{"henkilotunnus":")" + baby +
               R"("}},{"tietoryhma":"KOTIMAINEN_POSTIOSOITE","muutosattribuutti":"POISTETTU"})",
           kParent),
      BatchKind::kChanges);
  REQUIRE(r.ok());
  REQUIRE(r->children.size() == 1);
  CHECK(r->children[0].child.code == baby);
  CHECK(r->postal_address.touched());
  CHECK_FALSE(r->postal_address.value().has_value());
}
