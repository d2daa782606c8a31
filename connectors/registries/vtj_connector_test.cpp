// VtjConnector against the in-process VTJ double (tests/fakes/vtj_fake_server.h): the protocol,
// every fault kind (the key stays, nothing is lost, nothing is doubled), and the info groups.
#include "connectors/registries/vtj_connector.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "engine/store/migrations.h"
#include "engine/store/population.h"
#include "tests/fakes/vtj_fake_server.h"

using namespace ennakko;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::string kMum = MakeHetu(Date::FromYmd(1988, 3, 14), 912);
const std::string kDad = MakeHetu(Date::FromYmd(1986, 11, 2), 913);
const std::string kKid = MakeHetu(Date::FromYmd(2020, 6, 30), 914);
const std::string kOld = MakeHetu(Date::FromYmd(1941, 1, 5), 915);
const std::string kBaby = MakeHetu(Date::FromYmd(2026, 2, 20), 916);

std::string D(const char* ymd) { return std::string(R"({"arvo":")") + ymd + R"(","tarkkuus":"PAIVA"})"; }

std::string Change(const std::string& code, const char* day, const std::string& groups) {
  return R"({"henkilotunnus":")" + code + R"(","muutospv":")" + day + R"(T06:00:00.000Z","tietoryhmat":[)" +
         groups + "]}";
}
std::string Home(const char* kunta = "091") {
  return std::string(R"({"tietoryhma":"KOTIKUNTA","muutosattribuutti":"LISATTY","kuntakoodi":")") + kunta +
         R"("},{"tietoryhma":"VAKINAINEN_KOTIMAINEN_OSOITE","muutosattribuutti":"LISATTY",)"
         R"("katunimi":{"fi":"Testikuja"},"katunumero":"1","postinumero":"00100","postitoimipaikka":{"fi":"HELSINKI"}})";
}
std::string Name(const char* first) {
  return std::string(R"({"tietoryhma":"HENKILON_NIMI","muutosattribuutti":"LISATTY","etunimi":")") + first +
         R"(","sukunimi":"Testinen"})";
}
std::string Guardian(const std::string& code) {
  return R"({"tietoryhma":"HUOLTAJA_SUPPEA","muutosattribuutti":"LISATTY","huoltaja":{"henkilotunnus":")" + code +
         R"("},"huoltosuhteenAlkupv":)" + D("2020-06-30") + "}";
}

// Five changes on three days; with page size 2 they come in three pages.
std::string FiveChanges() {
  return "[" + Change(kMum, "2026-03-01", Name("Maija") + "," + Home()) + "," +
         Change(kDad, "2026-03-01", Name("Matti") + "," + Home()) + "," +
         Change(kKid, "2026-03-02", Name("Aada") + "," + Home() + "," + Guardian(kMum) + "," + Guardian(kDad)) + "," +
         Change(kOld, "2026-03-03", Name("Eino") + "," + Home()) + "," +
         Change(kOld, "2026-03-04", R"({"tietoryhma":"KUOLINPAIVA","muutosattribuutti":"LISATTY","kuollut":true,"kuolinpv":)" +
                                        D("2026-03-04") + "}") +
         "]";
}

std::string BadCheck(std::string code) {
  code.back() = code.back() == 'A' ? 'B' : 'A';
  return code;
}

struct Env {
  VtjFake fake;
  std::unique_ptr<Db> db = std::move(OpenStore({.path = ":memory:"}).value());
  FakeClock clock{std::chrono::system_clock::time_point(std::chrono::hours(24 * 20500))};
  VtjConnectorOptions options;

  explicit Env(size_t page_size = 2) : fake(VtjFakeOptions{.page_size = page_size}) {
    REQUIRE(fake.Start().ok());
    options.base_url = fake.base_url();
    options.username = "ennakko";
    options.password = "vtj-test-password";
    options.start_date = Date::FromYmd(2026, 3, 1);
    options.timeout = 2s;
  }
  VtjConnector Connector() { return VtjConnector(options, &clock); }
  std::string Cursor() {
    auto store = PopulationStore::Open(*db).value();
    return store->GetCursor("vtj").value().value_or("");
  }
  std::string Query(const std::string& sql) {
    auto q = db->Prepare(sql).value();
    std::string out;
    for (;;) {
      auto row = q.Step().value();
      if (!row) break;
      out += q.Text(0) + "\n";
    }
    return out;
  }
  // Everything the connector writes about people, without the fetch times.
  std::string Dump() {
    return Query("SELECT hetu||'|'||coalesce(first_names,'')||'|'||coalesce(municipality,'')||'|'||"
                 "coalesce(street_address,'')||'|'||coalesce(death_date,'')||'|'||address_protected "
                 "FROM residents ORDER BY hetu") +
           Query("SELECT g.hetu||'>'||w.hetu FROM custody JOIN residents g ON g.id = guardian_id "
                 "JOIN residents w ON w.id = ward_id ORDER BY 1") +
           Query("SELECT r.hetu||':'||name||':'||source FROM facts JOIN residents r ON r.id = resident_id "
                 "ORDER BY 1") +
           Query("SELECT count(*) FROM quarantine");
  }
};

}  // namespace

TEST_CASE("VTJ: start key by date, pages until ajanTasalla, key stored with each page", "[vtj]") {
  Env env;
  // A change dated before the start date is not wanted.
  REQUIRE(env.fake.AppendChanges("[" + Change(kBaby, "2026-02-20", Name("Ennen")) + "]").ok());
  REQUIRE(env.fake.AppendChanges(FiveChanges()).ok());
  auto c = env.Connector();
  auto r = c.Poll(*env.db);
  REQUIRE(r.ok());
  CHECK(r->batches_applied == 3);
  CHECK(r->records_applied == 5);
  CHECK(r->caught_up);
  CHECK(r->cursor == "1006");
  CHECK(env.Cursor() == "1006");
  CHECK(r->changed_residents.size() == 4);
  CHECK(env.fake.stats().kirjausavain_requests == 1);
  CHECK(env.fake.stats().muutokset_requests == 3);
  CHECK(env.Query("SELECT count(*) FROM residents") == "4\n");  // not the one before the start
  CHECK(env.Query("SELECT street_address FROM residents WHERE hetu = '" + kMum + "'") == "Testikuja 1\n");
  CHECK(env.Query("SELECT count(*) FROM custody") == "2\n");
  CHECK(env.Query("SELECT change_id FROM facts WHERE name = 'death_date'") == "1006:1\n");

  // Caught up: the next poll asks once and changes nothing; a new change arrives later.
  auto again = c.Poll(*env.db);
  REQUIRE(again.ok());
  CHECK(again->batches_applied == 0);
  CHECK(again->changed_residents.empty());
  REQUIRE(env.fake.AppendChanges("[" + Change(kKid, "2026-03-05", Home("049")) + "]").ok());
  auto moved = c.Poll(*env.db);
  REQUIRE(moved.ok());
  CHECK(moved->records_applied == 1);
  CHECK(env.Query("SELECT municipality FROM residents WHERE hetu = '" + kKid + "'") == "049\n");
  CHECK(env.fake.stats().kirjausavain_requests == 1);
}

TEST_CASE("VTJ: every fault kind leaves the key, loses nothing and doubles nothing", "[vtj]") {
  // The state after a clean run, to compare with.
  std::string reference;
  {
    Env clean;
    REQUIRE(clean.fake.AppendChanges(FiveChanges()).ok());
    REQUIRE(clean.Connector().Poll(*clean.db).ok());
    reference = clean.Dump();
  }
  struct Case {
    const char* what;
    VtjFakeFault fault;
    StatusCode code;
  };
  const std::vector<Case> cases = {
      {"5xx", {.status = 503}, StatusCode::kUnavailable},
      {"429", {.status = 429, .retry_after_s = 7}, StatusCode::kResourceExhausted},
      {"slow", {.status = 0, .delay_ms = 3000}, StatusCode::kUnavailable},
      {"dropped connection", {.status = 0, .delivery = "drop"}, StatusCode::kUnavailable},
      {"truncated body", {.status = 0, .delivery = "truncate"}, StatusCode::kUnavailable},
      {"malformed JSON", {.status = 0, .delivery = "malformed"}, StatusCode::kUnavailable},
  };
  for (const Case& k : cases) {
    DYNAMIC_SECTION(k.what) {
      Env env;
      REQUIRE(env.fake.AppendChanges(FiveChanges()).ok());
      auto c = env.Connector();
      // The first page goes through; the second request meets the fault.
      env.fake.InjectFault({.status = 0, .path = "/api/v1/muutokset"});
      VtjFakeFault f = k.fault;
      f.path = "/api/v1/muutokset";
      env.fake.InjectFault(f);
      auto failed = c.Poll(*env.db);
      REQUIRE_FALSE(failed.ok());
      CHECK(failed.status().code() == k.code);
      CHECK(env.Cursor() == "1002");  // the first page's key, committed with it; no further
      if (k.code == StatusCode::kResourceExhausted) {
        REQUIRE(c.retry_after());
        CHECK(*c.retry_after() == 7s);
      } else {
        CHECK_FALSE(c.retry_after());
      }
      auto recovered = c.Poll(*env.db);
      REQUIRE(recovered.ok());
      CHECK_FALSE(c.retry_after());
      CHECK(env.Cursor() == "1005");
      CHECK(env.Dump() == reference);
    }
  }
}

TEST_CASE("VTJ: a page delivered twice, or applied twice, changes nothing", "[vtj]") {
  Env env;
  REQUIRE(env.fake.AppendChanges(FiveChanges()).ok());
  auto c = env.Connector();
  env.fake.InjectFault({.status = 0, .path = "/api/v1/muutokset"});
  env.fake.InjectFault({.status = 0, .path = "/api/v1/muutokset", .delivery = "duplicate"});
  auto r = c.Poll(*env.db);
  REQUIRE(r.ok());
  CHECK(env.fake.stats().muutokset_requests == 3);  // the duplicate answer replaced a real one
  CHECK(env.Cursor() == "1005");
  const std::string after = env.Dump();
  const std::string facts_at = env.Query("SELECT group_concat(change_id) FROM facts");

  // Rewind the key by hand: the last two pages are applied again.
  auto store = PopulationStore::Open(*env.db).value();
  REQUIRE(store->SetCursor("vtj", "1002", "2026-03-05T00:00:00Z").ok());
  auto again = c.Poll(*env.db);
  REQUIRE(again.ok());
  CHECK(again->records_applied == 3);
  CHECK(again->changed_residents.empty());
  CHECK(env.Dump() == after);
  CHECK(env.Query("SELECT group_concat(change_id) FROM facts") == facts_at);
}

TEST_CASE("VTJ: malformed entries are quarantined with a reason, the rest applied", "[vtj]") {
  Env env(10);
  REQUIRE(env.fake.AppendChanges(
                      "[" + Change(kMum, "2026-03-01", Name("Maija")) + "," +
                      R"({"henkilotunnus":")" + BadCheck(kOld) + R"(","muutospv":"2026-03-01","tietoryhmat":[]},)" +
                      Change(kDad, "2026-03-01", R"({"tietoryhma":"KOTIKUNTA","muutosattribuutti":"LISATTY","kuntakoodi":"91"})") +
                      "," + Change(kKid, "2026-03-01", Name("Aada")) + "]")
              .ok());
  auto r = env.Connector().Poll(*env.db);
  REQUIRE(r.ok());
  CHECK(r->records_applied == 2);
  CHECK(r->records_quarantined == 2);
  CHECK(env.Query("SELECT connector||' '||batch||' '||line||' '||reason FROM quarantine ORDER BY line") ==
        "vtj muutokset@1004 2 henkilotunnus: identity code check character does not match\n"
        "vtj muutokset@1004 3 tietoryhmat[1] KOTIKUNTA: kuntakoodi must be three digits\n");
  CHECK(env.Cursor() == "1004");
}

TEST_CASE("VTJ: refused credentials are a permanent error and store nothing", "[vtj]") {
  Env env;
  env.options.password = "wrong";
  auto r = env.Connector().Poll(*env.db);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kPermanent);
  CHECK(r.status().message().find("wrong") == std::string::npos);
  CHECK(env.Cursor().empty());
  CHECK(env.fake.stats().unauthorized == 1);
}

TEST_CASE("VTJ: initial load through perustiedot, once per list", "[vtj]") {
  Env env;
  REQUIRE(env.fake.SetPersons("[" + Change(kMum, "2026-01-01", Name("Maija") + "," + Home()) + "," +
                              Change(kKid, "2026-01-01", Name("Aada") + "," + Home() + "," + Guardian(kMum)) + "]")
              .ok());
  fs::path list = fs::temp_directory_path() / "ennakko-vtj-initial-load.txt";
  {
    std::ofstream out(list);
    out << "# the city's residents\n" << kMum << "\n" << kKid << "\n" << kDad << "\n";
  }
  env.options.initial_load_file = list.string();
  auto c = env.Connector();
  auto r = c.Poll(*env.db);
  REQUIRE(r.ok());
  CHECK(r->records_applied == 2);  // kDad is not known to the registry
  CHECK(env.Query("SELECT count(*) FROM custody") == "1\n");
  CHECK(env.Query("SELECT DISTINCT source FROM facts") == "vtj\n");
  CHECK(env.fake.stats().perustiedot_requests == 1);
  REQUIRE(c.Poll(*env.db).ok());
  CHECK(env.fake.stats().perustiedot_requests == 1);
  fs::remove(list);
}

TEST_CASE("VTJ: a family split by the initial load's call boundary is loaded whole", "[vtj]") {
  Env env;
  // The mother is the 1000th code of the list, her child the 1001st: the first perustiedot call
  // names the child (HUOLLETTAVA_SUPPEA), who is asked for with it instead of quarantining her.
  const std::string ward =
      R"({"tietoryhma":"HUOLLETTAVA_SUPPEA","huollettava":{"henkilotunnus":")" + kKid + R"("}})";
  REQUIRE(env.fake.SetPersons("[" + Change(kMum, "2026-01-01", Name("Maija") + "," + Home() + "," + ward) + "," +
                              Change(kKid, "2026-01-01", Name("Aada") + "," + Home() + "," + Guardian(kMum)) + "]")
              .ok());
  fs::path list = fs::temp_directory_path() / "ennakko-vtj-initial-load-split.txt";
  {
    std::ofstream out(list);
    for (int i = 0; i < 999; ++i) out << MakeHetu(Date{Date::FromYmd(1950, 1, 1).days + i}, 950) << "\n";
    out << kMum << "\n" << kKid << "\n";
  }
  env.options.initial_load_file = list.string();
  auto c = env.Connector();
  auto r = c.Poll(*env.db);
  REQUIRE(r.ok());
  CHECK(r->records_quarantined == 0);
  CHECK(env.Query("SELECT count(*) FROM quarantine") == "0\n");
  CHECK(env.Query("SELECT g.hetu||'>'||w.hetu FROM custody JOIN residents g ON g.id = guardian_id "
                  "JOIN residents w ON w.id = ward_id") == kMum + ">" + kKid + "\n");
  CHECK(env.fake.stats().perustiedot_requests == 3);  // the first 1000, the child with them, the rest
  fs::remove(list);
}

TEST_CASE("VTJ: identity-code correction renames, or merges with history kept", "[vtj]") {
  Env env(10);
  const std::string kNew = MakeHetu(Date::FromYmd(2020, 6, 29), 918);
  auto korjaus = [&](const std::string& from, const std::string& to) {
    return Change(from, "2026-03-06",
                  R"({"tietoryhma":"HENKILOTUNNUS_KORJAUS","muutosattribuutti":"LISATTY","voimassaolo":"AKTIIVI",)"
                  R"("muutettuHenkilotunnus":")" + to + R"(","aktiivinenHenkilotunnus":")" + to +
                      R"(","edellisetHenkilotunnukset":[")" + from + R"("]})");
  };
  REQUIRE(env.fake.AppendChanges(FiveChanges()).ok());
  auto c = env.Connector();
  REQUIRE(c.Poll(*env.db).ok());

  SECTION("only the former code is known: the resident takes the new code") {
    REQUIRE(env.fake.AppendChanges("[" + korjaus(kKid, kNew) + "]").ok());
    auto r = c.Poll(*env.db);
    REQUIRE(r.ok());
    CHECK(r->changed_residents.size() == 1);  // the child; its guardians' relations are unchanged
    CHECK(env.Query("SELECT hetu||' '||birth_date FROM residents WHERE first_names = 'Aada'") ==
          kNew + " 2020-06-29\n");
    CHECK(env.Query("SELECT former_hetu FROM identity_code_history") == kKid + "\n");
    CHECK(env.Query("SELECT count(*) FROM custody") == "2\n");
  }
  SECTION("both codes are known: merged into the new one, custody and offers re-pointed") {
    REQUIRE(env.fake.AppendChanges("[" + Change(kNew, "2026-03-05", R"({"tietoryhma":"AIDINKIELI","muutosattribuutti":"LISATTY","kielikoodi":"sv"})") + "]").ok());
    REQUIRE(c.Poll(*env.db).ok());
    const std::string old_id = env.Query("SELECT id FROM residents WHERE hetu = '" + kKid + "'");
    REQUIRE(env.db->Exec("INSERT INTO outbox (idem_key, service, subject_id, recipient_id, period, language, state, "
                         "next_attempt_at, created_at, updated_at) SELECT 'k1', 'preschool-offer', c.id, m.id, '2026', "
                         "'fi', 'queued', 'x', 'x', 'x' FROM residents c, residents m WHERE c.hetu = '" + kKid +
                         "' AND m.hetu = '" + kMum + "'").ok());
    auto fact_of = [&](const std::string& hetu, const char* name) {
      return env.Query("SELECT f.change_id FROM facts f JOIN residents r ON r.id = f.resident_id WHERE r.hetu = '" +
                       hetu + "' AND f.name = '" + name + "'");
    };
    const std::string former_name = fact_of(kKid, "name"), own_language = fact_of(kNew, "language");
    REQUIRE(!former_name.empty());
    REQUIRE(!own_language.empty());
    REQUIRE(env.fake.AppendChanges("[" + korjaus(kKid, kNew) + "]").ok());
    auto r = c.Poll(*env.db);
    REQUIRE(r.ok());
    CHECK(env.Query("SELECT count(*) FROM residents WHERE hetu = '" + kKid + "'") == "0\n");
    // The new row's own values win (language), the former's fill the gaps (name, municipality).
    CHECK(env.Query("SELECT first_names||' '||municipality||' '||language FROM residents WHERE hetu = '" + kNew + "'") ==
          "Aada 091 sv\n");
    CHECK(env.Query("SELECT count(*) FROM custody c JOIN residents w ON w.id = c.ward_id WHERE w.hetu = '" + kNew +
                    "'") == "2\n");
    CHECK(env.Query("SELECT s.hetu FROM outbox o JOIN residents s ON s.id = o.subject_id") == kNew + "\n");
    CHECK(env.Query("SELECT former_hetu||' '||(merged_from_id = " + old_id.substr(0, old_id.size() - 1) +
                    ") FROM identity_code_history") == kKid + " 1\n");
    CHECK(env.Query("SELECT count(*) FROM facts f WHERE NOT EXISTS (SELECT 1 FROM residents r WHERE r.id = f.resident_id)") == "0\n");
    // Provenance moves with the values taken over; the new row's own stays; one per fact.
    CHECK(fact_of(kNew, "name") == former_name);
    CHECK(fact_of(kNew, "language") == own_language);
    CHECK(env.Query("SELECT count(*) FROM (SELECT resident_id, name FROM facts GROUP BY 1, 2 HAVING count(*) > 1)") ==
          "0\n");
    // The same correction again changes nothing.
    auto store = PopulationStore::Open(*env.db).value();
    REQUIRE(store->SetCursor("vtj", "1006", "x").ok());
    const std::string before = env.Dump();
    auto twice = c.Poll(*env.db);
    REQUIRE(twice.ok());
    CHECK(twice->changed_residents.empty());
    CHECK(env.Dump() == before);
  }
}

TEST_CASE("VTJ: under turvakielto no address is stored, in the same or a later record", "[vtj]") {
  Env env(10);
  const std::string postal =
      R"({"tietoryhma":"KOTIMAINEN_POSTIOSOITE","muutosattribuutti":"LISATTY","postiosoite":{"fi":"PL 1"},)"
      R"("postinumero":"00101","postitoimipaikka":{"fi":"HELSINKI"}})";
  const std::string protect = R"({"tietoryhma":"TURVAKIELTO","muutosattribuutti":"LISATTY","turvakieltoAktiivinen":true})";
  // Mum: address groups before the protection order in the same record. Dad: the order first,
  // the addresses in a later record. Kid: the order arrives after both addresses were stored.
  REQUIRE(env.fake.AppendChanges("[" + Change(kMum, "2026-03-01", Home() + "," + postal + "," + protect) + "," +
                                 Change(kDad, "2026-03-01", protect) + "," +
                                 Change(kDad, "2026-03-02", Home() + "," + postal) + "," +
                                 Change(kKid, "2026-03-01", Home() + "," + postal) + "]")
              .ok());
  auto c = env.Connector();
  REQUIRE(c.Poll(*env.db).ok());
  CHECK(env.Query("SELECT count(*) FROM postal_addresses") == "1\n");  // the kid's, for now
  REQUIRE(env.fake.AppendChanges("[" + Change(kKid, "2026-03-03", protect) + "," +
                                 Change(kKid, "2026-03-04", postal) + "]")
              .ok());
  REQUIRE(c.Poll(*env.db).ok());
  CHECK(env.Query("SELECT count(*) FROM residents WHERE address_protected = 1 AND street_address IS NULL "
                  "AND postal_code IS NULL AND post_office IS NULL") == "3\n");
  CHECK(env.Query("SELECT count(*) FROM postal_addresses") == "0\n");
  CHECK(env.Query("SELECT count(*) FROM facts WHERE name IN ('address', 'postal_address')") == "0\n");
  CHECK(env.Query("SELECT count(*) FROM residents WHERE municipality = '091'") == "3\n");
}

TEST_CASE("VTJ: LAPSI on a parent's record makes a newborn known", "[vtj]") {
  Env env(10);
  REQUIRE(env.fake.AppendChanges("[" + Change(kMum, "2026-03-01", Name("Maija")) + "]").ok());
  auto c = env.Connector();
  REQUIRE(c.Poll(*env.db).ok());
  REQUIRE(env.fake.AppendChanges(
                      "[" + Change(kMum, "2026-03-02", R"({"tietoryhma":"LAPSI","muutosattribuutti":"LISATTY","lapsi":{"henkilotunnus":")" + kBaby + R"("}})") + "]")
              .ok());
  auto r = c.Poll(*env.db);
  REQUIRE(r.ok());
  CHECK(r->changed_residents.size() == 2);
  CHECK(env.Query("SELECT birth_date FROM residents WHERE hetu = '" + kBaby + "'") == "2026-02-20\n");
}
