#include "engine/store/incomes.h"

#include <catch2/catch.hpp>

#include "engine/store/migrations.h"

using namespace ennakko;

namespace {

struct Fixture {
  std::unique_ptr<Db> db = std::move(OpenStore({.path = ":memory:"}).value());
  std::unique_ptr<PopulationStore> people = std::move(PopulationStore::Open(*db).value());
  std::unique_ptr<IncomeStore> store = std::move(IncomeStore::Open(*db).value());
  int64_t earner = Person(1988, 4, 4, 904);

  int64_t Person(int y, unsigned m, unsigned d, int n) {
    Hetu h = ParseHetu(MakeHetu(Date::FromYmd(y, m, d), n)).value();
    return people->UpsertResident(h, {}, {"test", "0:1", "2026-01-01T00:00:00.000Z"})->id;
  }
  int64_t Rows(const char* table) {
    auto q = db->Prepare(std::string("SELECT count(*) FROM ") + table);
    REQUIRE(q->Step().value());
    return q->Int(0);
  }
};

Provenance Prov(const char* change) { return {"incomes", change, "2026-03-01T10:00:00.000Z"}; }

IncomeTransaction Tx(const char* code, int64_t cents) {
  IncomeTransaction t;
  t.income_type = code;
  t.amount_cents = cents;
  return t;
}

IncomeReport Report(int64_t earner, const char* id, int64_t version, ReportAction action,
                    std::vector<IncomeTransaction> txs) {
  IncomeReport r;
  r.report_id = id;
  r.version = version;
  r.action = action;
  r.earner_id = earner;
  r.payer_id = "1234567-8";
  r.payment_date = Date::FromYmd(2026, 2, 27);
  r.period_start = Date::FromYmd(2026, 2, 1);
  r.period_end = Date::FromYmd(2026, 2, 28);
  r.received_at = "2026-02-27T12:00:00Z";
  r.transactions = std::move(txs);
  return r;
}

}  // namespace

TEST_CASE("a new report inserts its transactions with provenance", "[incomes]") {
  Fixture f;
  auto tx2 = Tx("101", 12000);
  tx2.one_off = true;
  tx2.earning_start = Date::FromYmd(2026, 1, 1);
  tx2.earning_end = Date::FromYmd(2026, 1, 31);
  auto out = f.store->Apply(Report(f.earner, "R1", 1, ReportAction::kNew, {Tx("201", 350000), tx2}), Prov("w1"));
  REQUIRE(out.ok());
  CHECK(*out == ApplyOutcome::kInserted);
  auto held = f.store->IncomesOf(f.earner);
  REQUIRE(held.ok());
  REQUIRE(held->size() == 2);
  CHECK((*held)[0].income_type == "201");
  CHECK((*held)[0].amount_cents == 350000);
  CHECK((*held)[0].start == Date::FromYmd(2026, 2, 1));  // the payment period
  CHECK((*held)[0].end == Date::FromYmd(2026, 2, 28));
  CHECK((*held)[1].one_off);
  CHECK((*held)[1].start == Date::FromYmd(2026, 1, 1));  // its own earning period
  CHECK((*held)[1].end == Date::FromYmd(2026, 1, 31));
  auto q = f.db->Prepare("SELECT source, change_id, fetched_at, received_at, payer_id FROM incomes WHERE line = 1");
  REQUIRE(q->Step().value());
  CHECK(q->Text(0) == "incomes");
  CHECK(q->Text(1) == "w1");
  CHECK(q->Text(2) == "2026-03-01T10:00:00.000Z");
  CHECK(q->Text(3) == "2026-02-27T12:00:00Z");
  CHECK(q->Text(4) == "1234567-8");
}

TEST_CASE("a replacement with a higher version supersedes the earlier version", "[incomes]") {
  Fixture f;
  REQUIRE(f.store->Apply(Report(f.earner, "R1", 1, ReportAction::kNew, {Tx("201", 350000), Tx("101", 5000)}), Prov("w1")).ok());
  auto out = f.store->Apply(Report(f.earner, "R1", 2, ReportAction::kReplace, {Tx("201", 360000)}), Prov("w2"));
  REQUIRE(out.ok());
  CHECK(*out == ApplyOutcome::kReplaced);
  auto held = f.store->IncomesOf(f.earner).value();
  REQUIRE(held.size() == 1);
  CHECK(held[0].amount_cents == 360000);
  CHECK(held[0].version == 2);
  CHECK(f.store->LatestVersion("R1").value() == std::make_pair(int64_t{2}, ReportAction::kReplace));
}

TEST_CASE("a cancellation removes the report's transactions and stays cancelled", "[incomes]") {
  Fixture f;
  REQUIRE(f.store->Apply(Report(f.earner, "R1", 1, ReportAction::kNew, {Tx("201", 350000)}), Prov("w1")).ok());
  REQUIRE(f.store->Apply(Report(f.earner, "R2", 1, ReportAction::kNew, {Tx("201", 1000)}), Prov("w1")).ok());
  auto out = f.store->Apply(Report(f.earner, "R1", 2, ReportAction::kCancel, {}), Prov("w2"));
  REQUIRE(out.ok());
  CHECK(*out == ApplyOutcome::kCancelled);
  auto held = f.store->IncomesOf(f.earner).value();
  REQUIRE(held.size() == 1);
  CHECK(held[0].report_id == "R2");
  // The original arriving again (a batch delivered twice) does not bring it back.
  CHECK(f.store->Apply(Report(f.earner, "R1", 1, ReportAction::kNew, {Tx("201", 350000)}), Prov("w3")).value() ==
        ApplyOutcome::kIgnored);
  CHECK(f.store->IncomesOf(f.earner)->size() == 1);
}

TEST_CASE("an older or equal version arriving again changes nothing", "[incomes]") {
  Fixture f;
  REQUIRE(f.store->Apply(Report(f.earner, "R1", 2, ReportAction::kReplace, {Tx("201", 360000)}), Prov("w2")).ok());
  SECTION("the same version again") {
    CHECK(f.store->Apply(Report(f.earner, "R1", 2, ReportAction::kReplace, {Tx("201", 999)}), Prov("w3")).value() ==
          ApplyOutcome::kIgnored);
  }
  SECTION("an older version, out of order") {
    CHECK(f.store->Apply(Report(f.earner, "R1", 1, ReportAction::kNew, {Tx("201", 350000)}), Prov("w1")).value() ==
          ApplyOutcome::kIgnored);
  }
  auto held = f.store->IncomesOf(f.earner).value();
  REQUIRE(held.size() == 1);
  CHECK(held[0].amount_cents == 360000);
  auto q = f.db->Prepare("SELECT change_id FROM incomes");
  REQUIRE(q->Step().value());
  CHECK(q->Text(0) == "w2");  // provenance names the change that set the value
}

TEST_CASE("invalid reports are refused and write nothing", "[incomes]") {
  Fixture f;
  CHECK(f.store->Apply(Report(f.earner, "", 1, ReportAction::kNew, {Tx("201", 1)}), Prov("w")).status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(f.store->Apply(Report(f.earner, "R1", 0, ReportAction::kNew, {Tx("201", 1)}), Prov("w")).status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(f.store->Apply(Report(f.earner, "R1", 1, ReportAction::kNew, {Tx("201", -1)}), Prov("w")).status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(f.Rows("incomes") == 0);
  CHECK(f.Rows("income_reports") == 0);
}

TEST_CASE("fetch marks and Forget", "[incomes]") {
  Fixture f;
  int64_t other = f.Person(1990, 1, 1, 906);
  CHECK_FALSE(f.store->FetchedThrough(f.earner).value().has_value());
  REQUIRE(f.store->MarkFetched(f.earner, "ecec-fee", "2026-03-01T00:00:00.000Z", "2026-03-01T00:00:01.000Z").ok());
  REQUIRE(f.store->MarkFetched(other, "ecec-fee", "2026-03-01T00:00:00.000Z", "2026-03-01T00:00:01.000Z").ok());
  CHECK(f.store->FetchedThrough(f.earner).value() == "2026-03-01T00:00:00.000Z");
  REQUIRE(f.store->Apply(Report(f.earner, "R1", 1, ReportAction::kNew, {Tx("201", 1)}), Prov("w")).ok());
  REQUIRE(f.store->Apply(Report(other, "R2", 1, ReportAction::kNew, {Tx("201", 1)}), Prov("w")).ok());
  CHECK(f.store->Forget(f.earner).value());
  CHECK(f.store->IncomesOf(f.earner)->empty());
  CHECK_FALSE(f.store->FetchedThrough(f.earner).value().has_value());
  CHECK(f.store->FetchedResidents().value() == std::vector<int64_t>{other});
  CHECK(f.store->IncomesOf(other)->size() == 1);
  CHECK_FALSE(f.store->Forget(f.earner).value());  // nothing left to forget
}
