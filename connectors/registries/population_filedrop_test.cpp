#include "connectors/registries/population_filedrop.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "engine/store/migrations.h"
#include "engine/store/population.h"

using namespace ennakko;
namespace fs = std::filesystem;

namespace {

const std::string kMum = MakeHetu(Date::FromYmd(1988, 3, 14), 902);
const std::string kDad = MakeHetu(Date::FromYmd(1986, 11, 2), 903);
const std::string kKid = MakeHetu(Date::FromYmd(2020, 6, 30), 904);
const std::string kOld = MakeHetu(Date::FromYmd(1941, 1, 5), 905);
const std::string kNobody = MakeHetu(Date::FromYmd(1970, 1, 1), 907);

std::string D(const char* ymd) {
  return std::string(R"({"arvo":")") + ymd + R"(","tarkkuus":"PAIVA"})";
}

std::string Person(const std::string& code, const std::string& groups) {
  return R"({"henkilotunnus":")" + code + R"(","tietoryhmat":[)" + groups + "]}";
}
std::string Change(const std::string& code, const std::string& groups) {
  return R"({"henkilotunnus":")" + code + R"(","muutospv":"2026-03-02","tietoryhmat":[)" + groups +
         "]}";
}
std::string Home(const char* attr = nullptr) {
  std::string a = attr ? std::string(R"("muutosattribuutti":")") + attr + "\"," : "";
  return R"({"tietoryhma":"KOTIKUNTA",)" + a +
         R"("kuntakoodi":"091"},)"
         R"({"tietoryhma":"VAKINAINEN_KOTIMAINEN_OSOITE",)" +
         a +
         R"("katuosoite":"Testikuja 1 B 4","postinumero":"00100","postitoimipaikka":"HELSINKI"})";
}
std::string CustodyGroup(const char* group, const std::string& other, const char* attr = nullptr,
                         const char* end = nullptr) {
  std::string s = std::string(R"({"tietoryhma":")") + group + R"(",)";
  if (attr) s += std::string(R"("muutosattribuutti":")") + attr + "\",";
  s += R"("henkilotunnus":")" + other + R"(","huoltosuhteenAlkupv":)" + D("2020-06-30");
  if (end) s += std::string(R"(,"huoltosuhteenLoppupv":)") + D(end);
  return s + "}";
}

fs::path FreshDir(const char* name) {
  fs::path dir = fs::temp_directory_path() / "ennakko-filedrop-test" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

struct Fixture {
  fs::path dir;
  std::unique_ptr<Db> db = std::move(OpenStore({.path = ":memory:"}).value());
  FakeClock clock{std::chrono::system_clock::time_point(std::chrono::hours(24 * 20500))};
  FileDropPopulationSource source;

  explicit Fixture(const char* name)
      : dir(FreshDir(name)), source(FileDropOptions{.directory = dir.string()}, &clock) {}

  void Write(const std::string& file, const std::vector<std::string>& lines) {
    std::ofstream out(dir / file);
    for (const auto& l : lines) out << l << "\n";
  }
  PollResult Poll() {
    clock.Advance(std::chrono::hours(1));  // any timestamp rewritten would show in a dump
    auto r = source.Poll(*db);
    REQUIRE(r.ok());
    return *r;
  }
  int64_t Id(const std::string& code) {
    auto store = PopulationStore::Open(*db);
    auto id = (*store)->FindResident(code).value();
    REQUIRE(id);
    return *id;
  }
  bool Exists(const std::string& code) {
    return (*PopulationStore::Open(*db))->FindResident(code).value().has_value();
  }
  std::string Query(const std::string& sql) {
    auto q = db->Prepare(sql);
    REQUIRE(q.ok());
    std::string out;
    while (q->Step().value()) out += q->Text(0) + "\n";
    return out;
  }
  std::string Dump() {
    return Query(
               "SELECT quote(id)||hetu||quote(birth_date)||quote(death_date)||quote(first_names)||"
               "quote(last_name)||quote(municipality)||quote(municipality_since)||quote(language)||"
               "quote(street_address)||quote(postal_code)||quote(post_office)||address_protected||"
               "quote(phone)||quote(email)||updated_at FROM residents ORDER BY id") +
           Query(
               "SELECT guardian_id||' '||ward_id||quote(kind)||quote(start_date)||quote(end_date) "
               "FROM custody ORDER BY 1") +
           Query(
               "SELECT resident_id||kind||start_date||quote(end_date) FROM placements ORDER BY 1") +
           Query("SELECT resident_id||name||source||change_id||fetched_at FROM facts ORDER BY 1") +
           Query(
               "SELECT connector||batch||line||reason||record||quarantined_at FROM quarantine "
               "ORDER BY 1");
  }
  std::string Cursor() { return Query("SELECT cursor FROM connector_cursors"); }
};

// The child comes first: its guardians are named before they appear.
std::vector<std::string> Snapshot() {
  return {
      Person(kKid, Home() + "," + CustodyGroup("HUOLTAJA_SUPPEA", kMum) + "," +
                       CustodyGroup("HUOLTAJA_SUPPEA", kDad)),
      Person(kMum, R"({"tietoryhma":"HENKILON_NIMI","etunimet":"Aino","sukunimi":"Testinen"},)" +
                       Home() + "," + CustodyGroup("HUOLLETTAVA_SUPPEA", kKid) +
                       R"(,{"tietoryhma":"YHTEYSTIEDOT","puhelin":"+358501110001"})"),
      Person(kDad, Home() + "," + CustodyGroup("HUOLLETTAVA_SUPPEA", kKid)),
      Person(kOld, Home()),
  };
}

}  // namespace

TEST_CASE("the snapshot is applied with forward custody references", "[filedrop]") {
  Fixture f("snapshot");
  f.Write("000000.snapshot.jsonl", Snapshot());
  f.Write("notes.txt", {"not a batch"});
  PollResult r = f.Poll();
  CHECK(r.batches_applied == 1);
  CHECK(r.records_applied == 4);
  CHECK(r.records_quarantined == 0);
  CHECK(r.cursor == "000000.snapshot.jsonl");
  CHECK(r.affected_resident_ids.size() == 4);
  CHECK(f.Cursor() == "000000.snapshot.jsonl\n");
  CHECK(f.Query("SELECT count(*) FROM custody WHERE end_date IS NULL") == "2\n");
  CHECK(f.Query("SELECT first_names||' '||phone FROM residents WHERE hetu='" + kMum + "'") ==
        "Aino +358501110001\n");
  CHECK(f.Query("SELECT change_id FROM facts WHERE name='phone'") == "000000:2\n");
  CHECK(f.Poll().batches_applied == 0);
}

TEST_CASE("a batch that cannot commit leaves no trace and the cursor where it was", "[filedrop]") {
  Fixture f("atomic");
  f.Write("000000.snapshot.jsonl", Snapshot());
  REQUIRE(f.db->Exec("CREATE TEMP TRIGGER fail BEFORE INSERT ON connector_cursors "
                     "BEGIN SELECT RAISE(ABORT, 'simulated disk full'); END")
              .ok());
  auto failed = f.source.Poll(*f.db);
  REQUIRE_FALSE(failed.ok());
  CHECK(f.Cursor().empty());
  CHECK(f.Query("SELECT count(*) FROM residents") == "0\n");
  CHECK(f.Query("SELECT count(*) FROM facts") == "0\n");
  REQUIRE(f.db->Exec("DROP TRIGGER fail").ok());
  CHECK(f.Poll().records_applied == 4);
  CHECK(f.Cursor() == "000000.snapshot.jsonl\n");
}

TEST_CASE("malformed lines are quarantined with reason and line; the rest applies", "[filedrop]") {
  Fixture f("malformed");
  f.Write("000000.snapshot.jsonl", Snapshot());
  f.Poll();
  const std::string bad_check = kOld.substr(0, 10) + (kOld[10] == 'X' ? "Y" : "X");
  const std::string orphan = MakeHetu(Date::FromYmd(2026, 2, 27), 940);
  f.Write(
      "000001.changes.jsonl",
      {
          "{broken",
          Change(bad_check, ""),
          "",  // blank lines are not records
          R"({"henkilotunnus":")" + kOld + R"(","muutospv":"2026-02-31","tietoryhmat":[]})",
          Change(
              kOld,
              R"({"tietoryhma":"KOTIKUNTA","muutosattribuutti":"SIIRRETTY","kuntakoodi":"091"})"),
          Change(orphan,
                 Home("LISATTY") + "," + CustodyGroup("HUOLTAJA_SUPPEA", kNobody, "LISATTY")),
          Change(
              kOld,
              R"({"tietoryhma":"TURVAKIELTO","muutosattribuutti":"LISATTY","turvakieltoAktiivinen":1})"),
          Change(kOld, R"({"tietoryhma":"KUOLINPAIVA","muutosattribuutti":"LISATTY","kuolinpv":)" +
                           D("2026-03-01") + "}"),
          Change(kOld, R"({"tietoryhma":"VANHA_RYHMA","muutosattribuutti":"LISATTY"})"),
      });
  PollResult r = f.Poll();
  CHECK(r.records_applied == 2);
  CHECK(r.records_quarantined == 6);
  CHECK(r.unknown_groups == 1);
  CHECK(f.Query("SELECT line||': '||reason FROM quarantine ORDER BY line") ==
        "1: not valid JSON\n"
        "2: henkilotunnus: identity code check character does not match\n"
        "4: muutospv must be a date string YYYY-MM-DD\n"
        "5: tietoryhmat[1] (KOTIKUNTA): unknown muutosattribuutti\n"
        "6: HUOLTAJA_SUPPEA: the guardian is not known, even after the whole batch\n"
        "7: tietoryhmat[1] TURVAKIELTO: turvakieltoAktiivinen must be true or false\n");
  CHECK(f.Query("SELECT record FROM quarantine WHERE line = 1") == "{broken\n");
  CHECK_FALSE(f.Exists(orphan));  // the whole line is quarantined, not just its custody
  CHECK(f.Query("SELECT death_date FROM residents WHERE hetu='" + kOld + "'") == "2026-03-01\n");
  CHECK(f.Cursor() == "000001.changes.jsonl\n");
}

TEST_CASE("the same batch twice changes nothing", "[filedrop]") {
  Fixture f("twice");
  f.Write("000000.snapshot.jsonl", Snapshot());
  f.Poll();
  const std::string after_snapshot = f.Dump();
  REQUIRE(f.db->Exec("DELETE FROM connector_cursors").ok());  // rewind by hand
  PollResult snapshot_again = f.Poll();
  CHECK(snapshot_again.batches_applied == 1);
  CHECK(snapshot_again.affected_resident_ids.empty());
  CHECK(f.Dump() == after_snapshot);

  f.Write(
      "000001.changes.jsonl",
      {Change(
           kMum,
           R"({"tietoryhma":"YHTEYSTIEDOT","muutosattribuutti":"MUUTETTU","puhelin":"+358501110002","sahkoposti":"aino@example.fi"})"),
       Change(kDad, CustodyGroup("HUOLLETTAVA_SUPPEA", kKid, "POISTETTU", "2026-03-01")),
       "{broken"});
  CHECK_FALSE(f.Poll().affected_resident_ids.empty());
  const std::string dump = f.Dump();
  CHECK(f.Poll().batches_applied == 0);  // the cursor skips it
  CHECK(f.Dump() == dump);

  // Idempotent application: rewind the cursor to before the batch and apply it again.
  REQUIRE(f.db->Exec("UPDATE connector_cursors SET cursor = '000000.snapshot.jsonl'").ok());
  PollResult again = f.Poll();
  CHECK(again.batches_applied == 1);
  CHECK(again.records_quarantined == 1);
  CHECK(again.affected_resident_ids.empty());
  CHECK(f.Dump() == dump);
}

TEST_CASE("POISTETTU custody ends the relation; affected ids include wards", "[filedrop]") {
  Fixture f("custody");
  f.Write("000000.snapshot.jsonl", Snapshot());
  f.Poll();
  f.Write("000001.changes.jsonl",
          {Change(kDad, CustodyGroup("HUOLLETTAVA_SUPPEA", kKid, "POISTETTU", "2026-03-01")),
           Change(kKid, CustodyGroup("HUOLTAJA_SUPPEA", kDad, "POISTETTU"))});
  PollResult r = f.Poll();
  CHECK(r.affected_resident_ids ==
        std::vector<int64_t>{std::min(f.Id(kKid), f.Id(kDad)), std::max(f.Id(kKid), f.Id(kDad))});
  CHECK(f.Query("SELECT end_date FROM custody WHERE guardian_id = " + std::to_string(f.Id(kDad))) ==
        "2026-03-01\n");

  // A guardian's own change (a new phone) makes the engine look at the ward as well.
  f.Write(
      "000002.changes.jsonl",
      {Change(
          kMum,
          R"({"tietoryhma":"YHTEYSTIEDOT","muutosattribuutti":"MUUTETTU","puhelin":"+358501110003"})")});
  PollResult p = f.Poll();
  CHECK(p.affected_resident_ids ==
        std::vector<int64_t>{std::min(f.Id(kMum), f.Id(kKid)), std::max(f.Id(kMum), f.Id(kKid))});
}

TEST_CASE("a protection order clears the address and keeps later ones out", "[filedrop]") {
  Fixture f("protection");
  f.Write("000000.snapshot.jsonl", Snapshot());
  f.Write(
      "000001.changes.jsonl",
      {Change(
           kOld,
           R"({"tietoryhma":"TURVAKIELTO","muutosattribuutti":"LISATTY","turvakieltoAktiivinen":true})"),
       Change(
           kOld,
           R"({"tietoryhma":"VAKINAINEN_KOTIMAINEN_OSOITE","muutosattribuutti":"MUUTETTU","katuosoite":"Salainen 1","postinumero":"00990","postitoimipaikka":"HELSINKI"})")});
  f.Poll();
  CHECK(
      f.Query("SELECT address_protected||quote(street_address)||quote(postal_code) FROM residents "
              "WHERE hetu='" +
              kOld + "'") == "1NULLNULL\n");
  CHECK(f.Query("SELECT count(*) FROM facts WHERE name='address' AND resident_id=" +
                std::to_string(f.Id(kOld))) == "0\n");
}

TEST_CASE("batches apply in sequence and stop at a gap", "[filedrop]") {
  Fixture f("gap");
  f.Write("000000.snapshot.jsonl", Snapshot());
  f.Write("000002.changes.jsonl", {Change(kOld, Home("MUUTETTU"))});
  CHECK(f.Poll().cursor == "000000.snapshot.jsonl");
  f.Write("000001.changes.jsonl", {Change(kOld, Home("MUUTETTU"))});
  PollResult r = f.Poll();
  CHECK(r.batches_applied == 2);
  CHECK(r.cursor == "000002.changes.jsonl");
}

namespace {
std::string GuardiansFact(Fixture& f, const std::string& code) {
  return f.Query("SELECT change_id FROM facts WHERE name = 'guardians' AND resident_id = " +
                 std::to_string(f.Id(code)));
}
std::string NewPhone(int n) {
  return R"({"tietoryhma":"YHTEYSTIEDOT","muutosattribuutti":"MUUTETTU","puhelin":"+35850111)" +
         std::to_string(1000 + n) + R"("})";
}
}  // namespace

// The guardians fact is written once a ward's custody has settled, not at every link (see
// PopulationApplier): it must still name the last change applied, wherever it falls in a batch.
TEST_CASE("a ward's guardians fact names the last custody change of the batch", "[filedrop]") {
  Fixture f("guardians-fact");
  f.Write("000000.snapshot.jsonl", Snapshot());
  f.Poll();
  CHECK(GuardiansFact(f, kKid) == "000000:1\n");  // the kid's line applied both links

  // A change on the last line of a batch: written when the batch ends.
  f.Write("000001.changes.jsonl",
          {Change(kOld, NewPhone(1)), Change(kKid, CustodyGroup("HUOLTAJA_SUPPEA", kOld, "LISATTY"))});
  f.Poll();
  CHECK(GuardiansFact(f, kKid) == "000001:2\n");

  // A change, long enough without one to be written, then another: the later one counts.
  std::vector<std::string> lines = {
      Change(kDad, CustodyGroup("HUOLLETTAVA_SUPPEA", kKid, "POISTETTU", "2026-03-01"))};
  for (int i = 0; i < 12; ++i) lines.push_back(Change(kOld, NewPhone(10 + i)));
  lines.push_back(Change(kKid, CustodyGroup("HUOLTAJA_SUPPEA", kOld, "POISTETTU", "2026-03-02")));
  for (int i = 0; i < 3; ++i) lines.push_back(Change(kOld, NewPhone(30 + i)));
  f.Write("000002.changes.jsonl", lines);
  f.Poll();
  CHECK(GuardiansFact(f, kKid) == "000002:14\n");
  CHECK(f.Query("SELECT count(*) FROM fact_sets WHERE facts = 0") == "0\n");
}

TEST_CASE("a custody change just before an identity merge moves with the merged row",
          "[filedrop]") {
  Fixture f("guardians-merge");
  const std::string twin = MakeHetu(Date::FromYmd(2020, 7, 1), 906);  // the kid's code, corrected
  f.Write("000000.snapshot.jsonl", Snapshot());
  f.Poll();
  f.Write("000001.changes.jsonl",
          {Change(kKid, CustodyGroup("HUOLTAJA_SUPPEA", kOld, "LISATTY")),
           Change(twin, Home("LISATTY")),
           Change(kKid,
                  R"({"tietoryhma":"HENKILOTUNNUS_KORJAUS","muutosattribuutti":"LISATTY",)"
                  R"("voimassaolo":"AKTIIVI","aktiivinenHenkilotunnus":")" +
                      twin + R"("})")});
  f.Poll();
  CHECK_FALSE(f.Exists(kKid));
  CHECK(f.Query("SELECT count(*) FROM custody WHERE ward_id = " + std::to_string(f.Id(twin))) ==
        "3\n");
  CHECK(GuardiansFact(f, twin) == "000001:1\n");  // the former row's, taken over by the merge
  CHECK(f.Query("SELECT count(*) FROM fact_sets WHERE resident_id NOT IN "
                "(SELECT id FROM residents)") == "0\n");
}

TEST_CASE("a first snapshot finds a person applied earlier in it", "[filedrop]") {
  // Into an empty store the applier skips the store lookup for codes it has not applied yet;
  // one it has applied must still be looked up and found.
  Fixture f("first-snapshot");
  f.Write("000000.snapshot.jsonl",
          {Person(kMum, Home()), Person(kOld, Home()),
           Person(kKid, Home() + "," + CustodyGroup("HUOLTAJA_SUPPEA", kMum)),
           Person(kDad, Home() + "," + CustodyGroup("HUOLLETTAVA_SUPPEA", kKid))});
  PollResult r = f.Poll();
  CHECK(r.records_applied == 4);
  CHECK(r.records_quarantined == 0);
  CHECK(f.Query("SELECT count(*) FROM custody WHERE ward_id = " + std::to_string(f.Id(kKid))) ==
        "2\n");
  CHECK(GuardiansFact(f, kKid) == "000000:4\n");
}
