// The incomes connector against the in-process Incomes Register double (tests/fakes): who is
// queried, what is stored, and what each fault does.
#include "connectors/registries/incomes_connector.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "connectors/registries/incomes_register_xml.h"
#include "engine/store/incomes.h"
#include "engine/store/migrations.h"
#include "engine/store/population.h"
#include "tests/fakes/incomes_fake_server.h"

using namespace ennakko;
using namespace std::chrono_literals;

namespace {

std::string Delivery(const std::string& hetu, const std::string& id, int version, int action,
                     const std::string& received, const std::string& code = "201",
                     const std::string& amount = "3000.00") {
  std::string tx = action == 3 ? "" : fmt::format(
      "<Transactions><Transaction><TransactionBasic><TransactionCode>{}</TransactionCode><Amount>{}</Amount>"
      "<OneOff>false</OneOff><Recovery>false</Recovery></TransactionBasic></Transaction></Transactions>", code, amount);
  return fmt::format(
      "<DeliveryData><PaymentPeriod><PaymentDate>2026-02-27</PaymentDate><StartDate>2026-02-01</StartDate>"
      "<EndDate>2026-02-28</EndDate></PaymentPeriod><Payer><PayerIds><Id>1234567-8</Id></PayerIds></Payer>"
      "<Reports><Report><ReportData><ActionCode>{}</ActionCode><IRReportId>{}</IRReportId>"
      "<ReportVersion>{}</ReportVersion><ReceivedTimestamp>{}</ReceivedTimestamp></ReportData>"
      "<IncomeEarner><IncomeEarnerIds><Id>{}</Id></IncomeEarnerIds></IncomeEarner>{}</Report></Reports>"
      "</DeliveryData>",
      action, id, version, received, hetu, tx);
}

std::string Data(const std::string& deliveries) { return "<IncomesFakeData>" + deliveries + "</IncomesFakeData>"; }

std::chrono::system_clock::time_point At(const char* ts) { return *ParseUtcTimestamp(ts); }

struct Fixture {
  FakeClock clock{At("2026-03-01T10:00:00Z")};
  std::unique_ptr<Db> db = std::move(OpenStore({.path = ":memory:"}).value());
  std::unique_ptr<PopulationStore> people = std::move(PopulationStore::Open(*db).value());
  std::unique_ptr<IncomeStore> incomes = std::move(IncomeStore::Open(*db).value());
  IncomesFake fake;
  IncomesConnectorOptions options;
  std::unique_ptr<IncomesConnector> connector;

  // Guardians of a child in ECEC (a pending fee decision), a consenting adult, an adult whose
  // consent was revoked, and an adult with no basis at all.
  std::string mother = Code(1990, 1, 1, 902), father = Code(1991, 2, 2, 903), child = Code(2023, 3, 3, 904);
  std::string consenting = Code(1985, 4, 4, 906), revoked = Code(1986, 5, 5, 908), stranger = Code(1987, 6, 6, 910);
  int64_t mother_id = Person(mother), father_id = Person(father), child_id = Person(child);
  int64_t consenting_id = Person(consenting), revoked_id = Person(revoked), stranger_id = Person(stranger);

  Fixture() {
    Provenance p{"test", "0:1", "2026-01-01T00:00:00.000Z"};
    REQUIRE(people->UpsertCustody({mother_id, child_id, "huoltaja", Date::FromYmd(2023, 3, 3), {}}, p).value());
    REQUIRE(people->UpsertCustody({father_id, child_id, "huoltaja", Date::FromYmd(2023, 3, 3), {}}, p).value());
    REQUIRE(people->UpsertPlacement({child_id, "ecec", Date::FromYmd(2025, 8, 1), {}}, p).value());
    Consent(consenting_id, "2026-01-01T00:00:00.000Z", nullptr, nullptr);
    Consent(revoked_id, "2026-01-01T00:00:00.000Z", nullptr, "2026-02-01T00:00:00.000Z");
    REQUIRE(fake.AddReports(Data(Delivery(mother, "M-1", 1, 1, "2026-02-27T12:00:00Z") +
                                 Delivery(consenting, "C-1", 1, 1, "2026-02-20T12:00:00Z", "201", "2500") +
                                 Delivery(revoked, "R-1", 1, 1, "2026-02-20T12:00:00Z") +
                                 Delivery(stranger, "S-1", 1, 1, "2026-02-20T12:00:00Z")))
                .ok());
    REQUIRE(fake.Start().ok());
    options.base_url = fake.base_url();
    options.username = "ennakko";
    options.password = "test-password";
    options.timeout = 2s;
    connector = std::make_unique<IncomesConnector>(options, clock);
  }
  std::string Code(int y, unsigned m, unsigned d, int n) { return MakeHetu(Date::FromYmd(y, m, d), n); }
  int64_t Person(const std::string& code) {
    return people->UpsertResident(ParseHetu(code).value(), {}, {"test", "0:1", "2026-01-01T00:00:00.000Z"})->id;
  }
  void Consent(int64_t id, const char* granted, const char* expires, const char* revoked_at) {
    auto st = db->Prepare(
        "INSERT INTO consents (resident_id, purpose, granted_at, expires_at, revoked_at, source, recorded_at) "
        "VALUES (?, 'ecec-fee-income', ?2, ?, ?, 'test', ?2)");
    st->Bind(1, id).Bind(2, granted);
    expires ? st->Bind(3, expires) : st->BindNull(3);
    revoked_at ? st->Bind(4, revoked_at) : st->BindNull(4);
    REQUIRE(st->Run().ok());
  }
  std::set<std::string> Queried() {
    std::set<std::string> out;
    for (const auto& q : fake.queries()) out.insert(q.income_earner);
    return out;
  }
  int64_t Count(const char* sql) {
    auto q = db->Prepare(sql);
    REQUIRE(q->Step().value());
    return q->Int(0);
  }
  std::optional<std::string> Cursor() { return people->GetCursor("incomes").value(); }
};

}  // namespace

TEST_CASE("only residents with a legal basis are queried, and their reports are stored", "[incomes-connector]") {
  Fixture f;
  auto r = f.connector->Poll(*f.db);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  // Guardians of the child in ECEC (pending fee decision) and the consenting adult; never the child,
  // the adult whose consent was revoked, or the stranger.
  CHECK(f.Queried() == std::set<std::string>{f.mother, f.father, f.consenting});
  for (const auto& q : f.fake.queries()) {
    CHECK(q.purpose == "ecec-fee-income");
    CHECK(q.start == "2025-12-29T10:00:00.000Z");  // 62 days back on the first pull
    CHECK(q.end == "2026-03-01T10:00:00.000Z");
  }
  CHECK(r->batches_applied == 3);
  CHECK(r->records_applied == 2);
  CHECK(r->changed_residents == std::vector<int64_t>{f.mother_id, f.father_id, f.consenting_id});
  CHECK(r->cursor == "2026-03-01T10:00:00.000Z");
  CHECK(f.Cursor() == "2026-03-01T10:00:00.000Z");
  auto m = f.incomes->IncomesOf(f.mother_id).value();
  REQUIRE(m.size() == 1);
  CHECK(m[0].amount_cents == 300000);
  CHECK(m[0].income_type == "201");
  CHECK(f.incomes->IncomesOf(f.consenting_id)->at(0).amount_cents == 250000);
  CHECK(f.incomes->IncomesOf(f.father_id)->empty());  // fetched: he has no reports
  CHECK(f.incomes->FetchedThrough(f.father_id).value() == "2026-03-01T10:00:00.000Z");
  CHECK(f.Count("SELECT count(*) FROM incomes WHERE earner_id NOT IN (SELECT resident_id FROM incomes_fetched)") == 0);

  SECTION("the next poll asks only for what was received since") {
    REQUIRE(f.fake.AddReports(Data(Delivery(f.mother, "M-2", 1, 1, "2026-03-01T10:30:00Z", "201", "100"))).ok());
    f.clock.Advance(1h);
    auto again = f.connector->Poll(*f.db);
    REQUIRE(again.ok());
    auto last = f.fake.queries().back();
    CHECK(last.start == "2026-03-01T10:00:00.000Z");
    CHECK(last.end == "2026-03-01T11:00:00.000Z");
    CHECK(again->records_applied == 1);
    CHECK(again->changed_residents == std::vector<int64_t>{f.mother_id});
    CHECK(f.incomes->IncomesOf(f.mother_id)->size() == 2);
  }
}

TEST_CASE("a replacement or cancellation received later supersedes the earlier report", "[incomes-connector]") {
  Fixture f;
  REQUIRE(f.connector->Poll(*f.db).ok());
  REQUIRE(f.fake.AddReports(Data(Delivery(f.mother, "M-1", 2, 2, "2026-03-01T10:10:00Z", "201", "3100.00"))).ok());
  f.clock.Advance(1h);
  auto r = f.connector->Poll(*f.db);
  REQUIRE(r.ok());
  auto m = f.incomes->IncomesOf(f.mother_id).value();
  REQUIRE(m.size() == 1);
  CHECK(m[0].amount_cents == 310000);
  CHECK(m[0].version == 2);
  REQUIRE(f.fake.AddReports(Data(Delivery(f.mother, "M-1", 3, 3, "2026-03-01T11:10:00Z"))).ok());
  f.clock.Advance(1h);
  r = f.connector->Poll(*f.db);
  REQUIRE(r.ok());
  CHECK(r->changed_residents == std::vector<int64_t>{f.mother_id});
  CHECK(f.incomes->IncomesOf(f.mother_id)->empty());
}

TEST_CASE("a batch delivered twice adds nothing", "[incomes-connector]") {
  Fixture f;
  REQUIRE(f.connector->Poll(*f.db).ok());
  int64_t before = f.Count("SELECT count(*) FROM incomes");
  f.fake.InjectFault({.kind = "duplicate", .count = 3});
  f.clock.Advance(1h);
  auto r = f.connector->Poll(*f.db);
  REQUIRE(r.ok());
  CHECK(f.fake.queries().size() == 6);
  CHECK(r->records_applied == 0);
  CHECK(r->changed_residents.empty());
  CHECK(f.Count("SELECT count(*) FROM incomes") == before);
  CHECK(f.Count("SELECT count(*) FROM income_reports") == 2);
}

TEST_CASE("each transient fault leaves the window where it was, and the next poll gets everything once",
          "[incomes-connector]") {
  Fixture f;
  IncomesFakeFault fault;
  SECTION("5xx") { fault = {.kind = "status", .status = 503}; }
  SECTION("dropped connection") { fault = {.kind = "drop"}; }
  SECTION("truncated body") { fault = {.kind = "truncate"}; }
  SECTION("malformed XML") { fault = {.kind = "malformed"}; }
  SECTION("slow answer beyond the timeout") { fault = {.kind = "slow", .delay_ms = 3000}; }
  f.fake.InjectFault(fault);
  auto r = f.connector->Poll(*f.db);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kUnavailable);
  CHECK(r.status().message().find(f.mother) == std::string::npos);  // no identity code in errors
  CHECK_FALSE(f.connector->retry_after());
  CHECK_FALSE(f.Cursor());
  CHECK_FALSE(f.incomes->FetchedThrough(f.mother_id).value());  // the first in line: not advanced
  CHECK(f.Count("SELECT count(*) FROM incomes") == 0);

  f.clock.Advance(1min);
  auto ok = f.connector->Poll(*f.db);
  REQUIRE(ok.ok());
  CHECK(f.Count("SELECT count(*) FROM incomes") == 2);
  CHECK(f.incomes->IncomesOf(f.mother_id)->size() == 1);
  CHECK(f.Cursor() == "2026-03-01T10:01:00.000Z");
  CHECK(f.fake.queries().back().start == "2025-12-29T10:01:00.000Z");
}

TEST_CASE("a fault part-way keeps what was applied and reports those residents later", "[incomes-connector]") {
  Fixture f;
  f.fake.InjectFault({.kind = "slow", .count = 1});        // the mother: answered normally
  f.fake.InjectFault({.kind = "status", .status = 502});   // the father: fails
  auto r = f.connector->Poll(*f.db);
  REQUIRE_FALSE(r.ok());
  CHECK(f.incomes->IncomesOf(f.mother_id)->size() == 1);
  CHECK(f.incomes->FetchedThrough(f.mother_id).value());
  CHECK_FALSE(f.incomes->FetchedThrough(f.father_id).value());
  f.clock.Advance(1min);
  auto ok = f.connector->Poll(*f.db);
  REQUIRE(ok.ok());
  CHECK(ok->changed_residents == std::vector<int64_t>{f.mother_id, f.father_id, f.consenting_id});
  CHECK(f.incomes->IncomesOf(f.mother_id)->size() == 1);
}

TEST_CASE("wrong credentials or a purpose outside the data permit are FailedPrecondition", "[incomes-connector]") {
  Fixture f;
  SECTION("credentials") { f.options.password = "wrong"; }
  SECTION("purpose") { f.options.purpose = "marketing"; }
  IncomesConnector c(f.options, f.clock);
  auto r = c.Poll(*f.db);
  CHECK(r.status().code() == StatusCode::kFailedPrecondition);
  CHECK(f.Count("SELECT count(*) FROM incomes_fetched") == 0);
}

TEST_CASE("429 is ResourceExhausted with the wait the register asked for", "[incomes-connector]") {
  Fixture f;
  f.fake.InjectFault({.kind = "status", .status = 429, .retry_after_s = 7});
  auto r = f.connector->Poll(*f.db);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kResourceExhausted);
  REQUIRE(f.connector->retry_after());
  CHECK(*f.connector->retry_after() == 7s);
  CHECK_FALSE(f.Cursor());
  REQUIRE(f.connector->Poll(*f.db).ok());
  CHECK_FALSE(f.connector->retry_after());
}

TEST_CASE("a malformed report is quarantined with its reason and the rest are applied", "[incomes-connector]") {
  Fixture f;
  REQUIRE(f.fake.AddReports(Data(Delivery(f.mother, "M-9", 1, 1, "2026-02-28T12:00:00Z", "201", "12,50") +
                                 Delivery(f.mother, "M-8", 1, 1, "2026-02-28T13:00:00Z", "201", "50.00")))
              .ok());
  auto r = f.connector->Poll(*f.db);
  REQUIRE(r.ok());
  CHECK(r->records_quarantined == 1);
  CHECK(f.incomes->IncomesOf(f.mother_id)->size() == 2);  // M-1 and M-8
  auto q = f.db->Prepare("SELECT connector, reason, record FROM quarantine");
  REQUIRE(q->Step().value());
  CHECK(q->Text(0) == "incomes");
  CHECK(q->Text(1) == "transaction 1: Amount is not a non-negative amount in euros");
  CHECK(q->Text(2).find("<IRReportId>M-9</IRReportId>") != std::string::npos);
}

TEST_CASE("when the legal basis ends the incomes are forgotten and nobody is asked again", "[incomes-connector]") {
  Fixture f;
  REQUIRE(f.connector->Poll(*f.db).ok());
  REQUIRE(f.incomes->IncomesOf(f.consenting_id)->size() == 1);
  REQUIRE(f.incomes->IncomesOf(f.mother_id)->size() == 1);
  // The consent is revoked and the child's ECEC placement ends.
  REQUIRE(f.db->Exec("UPDATE consents SET revoked_at = '2026-03-01T10:30:00.000Z'").ok());
  REQUIRE(f.db->Exec("UPDATE placements SET end_date = '2026-02-28'").ok());
  f.fake.Reset();
  f.clock.Advance(1h);
  auto r = f.connector->Poll(*f.db);
  REQUIRE(r.ok());
  CHECK(f.fake.queries().empty());
  CHECK(r->changed_residents == std::vector<int64_t>{f.mother_id, f.father_id, f.consenting_id});
  CHECK(f.Count("SELECT count(*) FROM incomes") == 0);
  CHECK(f.Count("SELECT count(*) FROM incomes_fetched") == 0);
}

TEST_CASE("the legal basis: consents by time, fee decisions by custody and placement", "[incomes-connector]") {
  Fixture f;
  Date today = Date::FromYmd(2026, 3, 1);
  auto ids = [&](const char* now) {
    std::vector<int64_t> out;
    auto basis = ResidentsWithIncomeBasis(*f.db, "ecec-fee-income", today, now);
    REQUIRE(basis.ok());
    for (const auto& b : *basis) out.push_back(b.resident_id);
    return out;
  };
  CHECK(ids("2026-03-01T10:00:00.000Z") == std::vector<int64_t>{f.mother_id, f.father_id, f.consenting_id});
  // Before the consent was granted, or for another purpose, it does not count.
  CHECK(ids("2025-12-31T23:59:59.000Z") == std::vector<int64_t>{f.mother_id, f.father_id});
  CHECK(ResidentsWithIncomeBasis(*f.db, "other", today, "2026-03-01T10:00:00.000Z")->size() == 2);
  // An expired consent does not count.
  REQUIRE(f.db->Exec("UPDATE consents SET expires_at = '2026-02-15T00:00:00.000Z' WHERE revoked_at IS NULL").ok());
  CHECK(ids("2026-03-01T10:00:00.000Z") == std::vector<int64_t>{f.mother_id, f.father_id});
  // Custody that has ended is no basis; a placement starting later is (the decision precedes it).
  REQUIRE(f.db->Exec("UPDATE custody SET end_date = '2026-01-31' WHERE guardian_id = " +
                     std::to_string(f.father_id)).ok());
  REQUIRE(f.db->Exec("UPDATE placements SET start_date = '2026-08-01'").ok());
  CHECK(ids("2026-03-01T10:00:00.000Z") == std::vector<int64_t>{f.mother_id});
  auto basis = ResidentsWithIncomeBasis(*f.db, "ecec-fee-income", today, "2026-03-01T10:00:00.000Z").value();
  CHECK(basis.at(0).basis == "pending-fee-decision");
}

TEST_CASE("a capped poll asks the longest-unasked first and says it has not caught up", "[incomes-connector]") {
  Fixture f;
  f.options.max_earners_per_poll = 2;
  IncomesConnector capped(f.options, f.clock);
  auto first = capped.Poll(*f.db);
  REQUIRE(first.ok());
  CHECK_FALSE(first->caught_up);
  CHECK_FALSE(f.Cursor());  // not everyone was reached
  CHECK(f.Queried() == std::set<std::string>{f.mother, f.father});
  f.clock.Advance(1min);
  auto second = capped.Poll(*f.db);
  REQUIRE(second.ok());
  CHECK(second->caught_up);
  REQUIRE(f.fake.queries().size() == 3);  // the two asked a minute ago are not due yet
  CHECK(f.fake.queries().at(2).income_earner == f.consenting);
  CHECK(f.Cursor() == "2026-03-01T10:01:00.000Z");
  f.clock.Advance(1min);
  REQUIRE(capped.Poll(*f.db).ok());
  CHECK(f.fake.queries().size() == 3);
  f.clock.Advance(1h);
  REQUIRE(capped.Poll(*f.db).ok());
  CHECK(f.fake.queries().size() == 5);  // the two that waited longest
}
