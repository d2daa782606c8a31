#include "engine/store/consents.h"

#include <catch2/catch.hpp>

#include "engine/base/hetu.h"
#include "engine/store/migrations.h"

using namespace ennakko;
using namespace std::chrono_literals;

namespace {

TimePoint At(const char* text) { return ParseTimestamp(text).value(); }

struct Fixture {
  FakeClock clock{At("2026-11-22T08:00:00Z")};
  std::unique_ptr<Db> db = OpenStore({.path = ":memory:"}).value();
  std::string parent = MakeHetu(Date::FromYmd(1990, 5, 1), 950);
  std::string child = MakeHetu(Date::FromYmd(2020, 5, 5), 961);
  int64_t parent_id = 0, child_id = 0;
  ConsentStore store{*db, clock};

  Fixture() {
    parent_id = AddResident(parent);
    child_id = AddResident(child);
  }
  int64_t AddResident(const std::string& code) {
    auto st = db->Prepare("INSERT INTO residents (hetu, updated_at) VALUES (?, '2026-01-01') RETURNING id");
    st->Bind(1, code);
    REQUIRE(st->Step().value());
    return st->Int(0);
  }
  NewConsent Consent(const std::string& code, const char* purpose = "ecec-fee-income") const {
    return {code, purpose, At("2026-11-22T07:59:00Z"), std::nullopt, "mydata-operator"};
  }
};

}  // namespace

TEST_CASE("timestamps: RFC 3339 with Z or an offset, fractions; anything else is refused", "[consents]") {
  CHECK(FormatTimestamp(At("2026-11-22T08:00:00Z")) == "2026-11-22T08:00:00.000Z");
  CHECK(FormatTimestamp(At("2026-11-22T10:00:00.25+02:00")) == "2026-11-22T08:00:00.250Z");
  CHECK(FormatTimestamp(At("2026-11-22T01:30:00-06:30")) == "2026-11-22T08:00:00.000Z");
  for (const char* bad : {"2026-11-22", "2026-11-22T08:00:00", "2026-02-30T08:00:00Z", "2026-11-22 08:00:00Z",
                          "2026-11-22T24:00:00Z", "2026-11-22T08:00:00Zjunk", "2026-11-22T08:00:00.Z",
                          "2026-11-22T08:00:00+2:00", ""}) {
    INFO(bad);
    CHECK(!ParseTimestamp(bad).ok());
  }
  // Helsinki's day: 23:30 UTC in winter is already the next day there (+2).
  CHECK(HelsinkiDay(At("2026-11-22T21:59:00Z")).ToString() == "2026-11-22");
  CHECK(HelsinkiDay(At("2026-11-22T22:00:00Z")).ToString() == "2026-11-23");
}

TEST_CASE("grant records a consent that is active from granted_at until expiry", "[consents]") {
  Fixture f;
  NewConsent c = f.Consent(f.parent);
  c.expires_at = At("2027-01-01T00:00:00Z");
  auto g = f.store.Grant(c);
  REQUIRE(g.ok());
  CHECK(g->created);
  CHECK(g->consent.id > 0);
  CHECK(g->consent.resident_id == f.parent_id);
  CHECK(g->consent.granted_at == "2026-11-22T07:59:00.000Z");
  CHECK(g->consent.expires_at == "2027-01-01T00:00:00.000Z");
  CHECK(g->consent.recorded_at == "2026-11-22T08:00:00.000Z");

  CHECK(HasActiveConsent(*f.db, f.parent_id, "ecec-fee-income", At("2026-11-22T08:00:00Z")).value());
  CHECK_FALSE(HasActiveConsent(*f.db, f.parent_id, "ecec-fee-income", At("2026-11-22T07:58:59Z")).value());
  CHECK_FALSE(HasActiveConsent(*f.db, f.parent_id, "ecec-fee-income", At("2027-01-01T00:00:00Z")).value());
  CHECK(HasActiveConsent(*f.db, f.parent_id, "ecec-fee-income", At("2026-12-31T23:59:59Z")).value());
  CHECK_FALSE(HasActiveConsent(*f.db, f.parent_id, "other-purpose", At("2026-11-22T08:00:00Z")).value());
  CHECK_FALSE(HasActiveConsent(*f.db, f.child_id, "ecec-fee-income", At("2026-11-22T08:00:00Z")).value());
  CHECK(ResidentsWithActiveConsent(*f.db, "ecec-fee-income", At("2026-12-01T00:00:00Z")).value() ==
        std::vector<int64_t>{f.parent_id});
  CHECK(ResidentsWithActiveConsent(*f.db, "ecec-fee-income", At("2027-02-01T00:00:00Z")).value().empty());
  CHECK(f.store.Active(f.parent_id, "ecec-fee-income", At("2026-12-01T00:00:00Z")).value().size() == 1);
}

TEST_CASE("a second grant while one is open returns the open one; after expiry a new one is made", "[consents]") {
  Fixture f;
  NewConsent c = f.Consent(f.parent);
  c.expires_at = At("2026-11-23T00:00:00Z");
  auto first = f.store.Grant(c);
  REQUIRE(first.ok());
  auto again = f.store.Grant(f.Consent(f.parent));
  REQUIRE(again.ok());
  CHECK_FALSE(again->created);
  CHECK(again->consent.id == first->consent.id);
  // Another purpose is another consent.
  auto other = f.store.Grant(f.Consent(f.parent, "school-meals-diet"));
  REQUIRE(other.ok());
  CHECK(other->created);

  f.clock.Set(At("2026-11-23T00:00:01Z"));  // the first has expired
  NewConsent later = f.Consent(f.parent);
  later.granted_at = f.clock.Now();
  auto renewed = f.store.Grant(later);
  REQUIRE(renewed.ok());
  CHECK(renewed->created);
  CHECK(renewed->consent.id != first->consent.id);
  CHECK(f.store.OfResident(f.parent_id).value().size() == 3);  // history kept
}

TEST_CASE("revoke sets revoked_at once and is idempotent", "[consents]") {
  Fixture f;
  auto g = f.store.Grant(f.Consent(f.parent));
  REQUIRE(g.ok());
  f.clock.Advance(1h);
  auto r = f.store.Revoke(g->consent.id, "mydata-operator");
  REQUIRE(r.ok());
  CHECK_FALSE(r->already_revoked);
  CHECK(r->consent.revoked_at == "2026-11-22T09:00:00.000Z");
  CHECK(r->consent.revoked_source == "mydata-operator");
  CHECK_FALSE(HasActiveConsent(*f.db, f.parent_id, "ecec-fee-income", f.clock.Now()).value());
  // Still active for a moment before the revocation (history).
  CHECK(HasActiveConsent(*f.db, f.parent_id, "ecec-fee-income", At("2026-11-22T08:30:00Z")).value());

  f.clock.Advance(1h);
  auto again = f.store.Revoke(g->consent.id, "service-desk");
  REQUIRE(again.ok());
  CHECK(again->already_revoked);
  CHECK(again->consent.revoked_at == "2026-11-22T09:00:00.000Z");  // unchanged
  CHECK(again->consent.revoked_source == "mydata-operator");

  auto missing = f.store.Revoke(g->consent.id + 100, "mydata-operator");
  CHECK(missing.status().code() == StatusCode::kNotFound);

  // After revocation a new grant is possible.
  auto regrant = f.store.Grant(f.Consent(f.parent));
  REQUIRE(regrant.ok());
  CHECK(regrant->created);
}

TEST_CASE("grant validates its input and never repeats the identity code", "[consents]") {
  Fixture f;
  auto expect_invalid = [&](NewConsent c, StatusCode code = StatusCode::kInvalidArgument) {
    auto g = f.store.Grant(c);
    REQUIRE_FALSE(g.ok());
    CHECK(g.status().code() == code);
    CHECK(g.status().message().find(c.identity_code) == std::string::npos);
    return g.status().message();
  };
  NewConsent c = f.Consent(f.parent);
  c.identity_code[10] = c.identity_code[10] == 'A' ? 'B' : 'A';  // wrong check character
  CHECK_THAT(expect_invalid(c), Catch::Contains("identity_code"));
  // A valid code of nobody in the store.
  c = f.Consent(MakeHetu(Date::FromYmd(1985, 3, 3), 970));
  expect_invalid(c, StatusCode::kNotFound);
  c = f.Consent(f.parent, "Fee Income");
  CHECK_THAT(expect_invalid(c), Catch::Contains("purpose"));
  c = f.Consent(f.parent);
  c.source = "desk clerk Maija";
  CHECK_THAT(expect_invalid(c), Catch::Contains("source"));
  c = f.Consent(f.parent);
  c.expires_at = c.granted_at;
  CHECK_THAT(expect_invalid(c), Catch::Contains("after granted_at"));
  c = f.Consent(f.parent);
  c.granted_at = At("2026-11-01T00:00:00Z");
  c.expires_at = At("2026-11-10T00:00:00Z");
  CHECK_THAT(expect_invalid(c), Catch::Contains("already past"));
  c = f.Consent(f.parent);
  c.granted_at = f.clock.Now() + 301s;
  CHECK_THAT(expect_invalid(c), Catch::Contains("future"));
  c.granted_at = f.clock.Now() + 299s;  // within the clock skew
  CHECK(f.store.Grant(c).ok());
  CHECK(f.store.OfResident(f.parent_id).value().size() == 1);
}

TEST_CASE("after migration the consents table has ids, the revocation source and its indexes", "[consents]") {
  auto db = Db::Open({.path = ":memory:"}).value();
  REQUIRE(Migrate(*db).ok());
  auto st = db->Prepare("SELECT count(*) FROM pragma_table_info('consents') WHERE name IN ('id', 'revoked_source')");
  REQUIRE(st->Step().value());
  CHECK(st->Int(0) == 2);
  auto idx = db->Prepare("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'consents'");
  REQUIRE(idx->Step().value());
  CHECK(idx->Int(0) == 2);
}
