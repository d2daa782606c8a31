#include "engine/store/population.h"

#include <catch2/catch.hpp>

#include "engine/store/migrations.h"

using namespace ennakko;

namespace {

struct Fixture {
  std::unique_ptr<Db> db = std::move(OpenStore({.path = ":memory:"}).value());
  std::unique_ptr<PopulationStore> store = std::move(PopulationStore::Open(*db).value());

  Hetu Code(int y, unsigned m, unsigned d, int n) {
    return ParseHetu(MakeHetu(Date::FromYmd(y, m, d), n)).value();
  }
  // (source, change_id) of a facts row, or "" when there is none.
  std::string FactOf(int64_t id, const char* name) {
    auto q =
        db->Prepare("SELECT source || ' ' || change_id FROM facts WHERE resident_id=? AND name=?");
    q->Bind(1, id).Bind(2, name);
    return q->Step().value() ? q->Text(0) : "";
  }
  std::string Column(int64_t id, const char* column) {
    auto q =
        db->Prepare(std::string("SELECT ifnull(") + column + ", 'NULL') FROM residents WHERE id=?");
    q->Bind(1, id);
    REQUIRE(q->Step().value());
    return q->Text(0);
  }
};

Provenance Prov(const char* change) { return {"test", change, "2026-01-02T03:04:05.000Z"}; }

}  // namespace

TEST_CASE("UpsertResident creates once, keyed by the whole identity code", "[population]") {
  Fixture f;
  Hetu h = f.Code(2020, 5, 17, 902);
  auto a = f.store->UpsertResident(h, {}, Prov("1:1"));
  REQUIRE(a.ok());
  CHECK(a->created);
  CHECK(f.FactOf(a->id, "birth_date") == "test 1:1");
  CHECK(f.Column(a->id, "birth_date") == "2020-05-17");
  auto again = f.store->UpsertResident(h, {}, Prov("1:2"));
  REQUIRE(again.ok());
  CHECK(again->id == a->id);
  CHECK_FALSE(again->created);
  CHECK_FALSE(again->changed);
  CHECK(f.FactOf(a->id, "birth_date") == "test 1:1");

  // Same digits, another century sign (2023 form): another person.
  Hetu other = ParseHetu(MakeHetu(Date::FromYmd(2020, 5, 17), 902, 1)).value();
  REQUIRE(other.code != h.code);
  auto b = f.store->UpsertResident(other, {}, Prov("1:3"));
  REQUIRE(b.ok());
  CHECK(b->id != a->id);
  CHECK(f.store->FindResident(other.code).value() == b->id);
  CHECK_FALSE(f.store->FindResident("010101-999X").value().has_value());
}

TEST_CASE("setting a fact writes the column and its provenance; clearing removes both",
          "[population]") {
  Fixture f;
  ResidentUpdate u;
  u.name.Set({"Aino Maria", "Testinen"});
  u.residence.Set({"091", Date::FromYmd(2019, 1, 1)});
  u.language.Set("fi");
  u.phone.Set("+358501234567");
  auto r = f.store->UpsertResident(f.Code(1985, 3, 3, 904), u, Prov("0:1"));
  REQUIRE(r.ok());
  const int64_t id = r->id;
  CHECK(f.Column(id, "first_names") == "Aino Maria");
  CHECK(f.Column(id, "municipality_since") == "2019-01-01");
  CHECK(f.FactOf(id, "name") == "test 0:1");
  CHECK(f.FactOf(id, "phone") == "test 0:1");
  CHECK(f.FactOf(id, "email").empty());

  SECTION("an update that changes nothing writes nothing") {
    CHECK_FALSE(f.store->UpdateResident(id, u, Prov("1:1")).value());
    CHECK(f.FactOf(id, "name") == "test 0:1");
  }
  SECTION("a changed fact gets the new provenance, others keep theirs") {
    ResidentUpdate move;
    move.residence.Set({"049", Date::FromYmd(2026, 2, 1)});
    CHECK(f.store->UpdateResident(id, move, Prov("2:5")).value());
    CHECK(f.Column(id, "municipality") == "049");
    CHECK(f.FactOf(id, "municipality") == "test 2:5");
    CHECK(f.FactOf(id, "name") == "test 0:1");
  }
  SECTION("clearing") {
    ResidentUpdate clear;
    clear.phone.Clear();
    clear.death_date.Set(Date::FromYmd(2026, 1, 1));
    CHECK(f.store->UpdateResident(id, clear, Prov("3:1")).value());
    CHECK(f.Column(id, "phone") == "NULL");
    CHECK(f.FactOf(id, "phone").empty());
    CHECK(f.FactOf(id, "death_date") == "test 3:1");
    CHECK(f.store->CountAlive("091").value() == 0);
  }
  CHECK(f.store->UpdateResident(999, u, Prov("x")).status().code() == StatusCode::kNotFound);
}

TEST_CASE("a protection order clears the address and keeps later addresses out", "[population]") {
  Fixture f;
  ResidentUpdate u;
  u.address.Set({"Testikatu 1 A 2", "00100", "HELSINKI"});
  const int64_t id = f.store->UpsertResident(f.Code(1990, 1, 1, 906), u, Prov("0:1"))->id;
  CHECK(f.FactOf(id, "address") == "test 0:1");

  ResidentUpdate protect;
  protect.address_protected = true;
  protect.address.Set({"Uusikatu 2", "00200", "HELSINKI"});  // same record: still dropped
  CHECK(f.store->UpdateResident(id, protect, Prov("1:1")).value());
  auto r = f.store->GetResident(id).value();
  REQUIRE(r);
  CHECK(r->address_protected);
  CHECK_FALSE(r->address.has_value());
  CHECK(f.FactOf(id, "address").empty());
  CHECK(f.FactOf(id, "address_protected") == "test 1:1");
  CHECK(f.Column(id, "street_address") == "NULL");

  ResidentUpdate later;
  later.address.Set({"Kolmaskatu 3", "00300", "HELSINKI"});
  CHECK_FALSE(f.store->UpdateResident(id, later, Prov("2:1")).value());
  CHECK(f.Column(id, "street_address") == "NULL");

  ResidentUpdate lift;
  lift.address_protected = false;
  lift.address.Set({"Kolmaskatu 3", "00300", "HELSINKI"});
  CHECK(f.store->UpdateResident(id, lift, Prov("3:1")).value());
  CHECK(f.Column(id, "street_address") == "Kolmaskatu 3");
  CHECK(f.FactOf(id, "address_protected").empty());
}

TEST_CASE("custody upsert, end and remove", "[population]") {
  Fixture f;
  const int64_t parent = f.store->UpsertResident(f.Code(1988, 2, 2, 908), {}, Prov("0:1"))->id;
  const int64_t child = f.store->UpsertResident(f.Code(2020, 2, 2, 910), {}, Prov("0:2"))->id;
  Custody c{parent, child, std::nullopt, Date::FromYmd(2020, 2, 2), std::nullopt};
  CHECK(f.store->UpsertCustody(c, Prov("0:2")).value());
  CHECK_FALSE(f.store->UpsertCustody(c, Prov("0:3")).value());
  CHECK(f.FactOf(child, "guardians") == "test 0:2");
  CHECK(f.store->WardsOf(parent).value() == std::vector<int64_t>{child});
  REQUIRE(f.store->GuardiansOf(child).value().size() == 1);

  CHECK(f.store->EndCustody(parent, child, Date::FromYmd(2026, 3, 1), Prov("4:1")).value());
  CHECK_FALSE(f.store->EndCustody(parent, child, Date::FromYmd(2026, 3, 1), Prov("4:2")).value());
  CHECK(f.store->GuardiansOf(child).value()[0].end == Date::FromYmd(2026, 3, 1));
  CHECK(f.FactOf(child, "guardians") == "test 4:1");
  CHECK_FALSE(f.store->EndCustody(child, parent, Date::FromYmd(2026, 3, 1), Prov("4:3")).value());

  CHECK(f.store->RemoveCustody(parent, child, Prov("5:1")).value());
  CHECK_FALSE(f.store->RemoveCustody(parent, child, Prov("5:2")).value());
  CHECK(f.store->GuardiansOf(child).value().empty());
}

TEST_CASE("placements upsert and remove", "[population]") {
  Fixture f;
  const int64_t child = f.store->UpsertResident(f.Code(2020, 6, 6, 912), {}, Prov("0:1"))->id;
  Placement p{child, "preschool", Date::FromYmd(2026, 8, 1), std::nullopt};
  CHECK(f.store->UpsertPlacement(p, Prov("0:1")).value());
  CHECK_FALSE(f.store->UpsertPlacement(p, Prov("0:2")).value());
  p.end = Date::FromYmd(2027, 5, 31);
  CHECK(f.store->UpsertPlacement(p, Prov("1:1")).value());
  CHECK(f.store->PlacementsOf(child).value() == std::vector<Placement>{p});
  CHECK(f.FactOf(child, "placements") == "test 1:1");
  CHECK(f.store->RemovePlacement(child, "preschool", p.start, Prov("2:1")).value());
  CHECK_FALSE(f.store->RemovePlacement(child, "preschool", p.start, Prov("2:2")).value());
  CHECK(f.store->PlacementsOf(child).value().empty());
}

TEST_CASE("quarantine is idempotent per line; cursors; counts", "[population]") {
  Fixture f;
  QuarantineEntry e{"c", "000001.changes.jsonl", 17, "invalid identity code", "{...}", "t"};
  REQUIRE(f.store->Quarantine(e).ok());
  e.reason = "another reason";
  REQUIRE(f.store->Quarantine(e).ok());
  CHECK(f.store->CountQuarantined("c").value() == 1);
  CHECK(f.store->CountQuarantined("other").value() == 0);

  CHECK_FALSE(f.store->GetCursor("c").value().has_value());
  REQUIRE(f.store->SetCursor("c", "000000.snapshot.jsonl", "t1").ok());
  REQUIRE(f.store->SetCursor("c", "000001.changes.jsonl", "t2").ok());
  CHECK(f.store->GetCursor("c").value() == "000001.changes.jsonl");

  ResidentUpdate in091;
  in091.residence.Set({"091", std::nullopt});
  REQUIRE(f.store->UpsertResident(f.Code(1970, 1, 1, 914), in091, Prov("0:1")).ok());
  REQUIRE(f.store->UpsertResident(f.Code(1971, 1, 1, 916), in091, Prov("0:2")).ok());
  REQUIRE(f.store->UpsertResident(f.Code(1972, 1, 1, 918), {}, Prov("0:3")).ok());
  CHECK(f.store->CountAlive("091").value() == 2);
  CHECK(f.store->CountResidents().value() == 3);
}

TEST_CASE("a record's facts share one provenance row, which is not reused after a rollback",
          "[population]") {
  Fixture f;
  Hetu h = f.Code(1990, 1, 2, 903);
  ResidentUpdate u;
  u.name.Set(PersonName{"Aino", "Virtanen"});
  u.language.Set("fi");
  {
    Transaction tx(*f.db);
    REQUIRE(tx.begin_status().ok());
    REQUIRE(f.store->UpsertResident(h, u, Prov("7:1")).ok());
  }  // rolled back: the resident and its provenance row are gone
  Hetu g = f.Code(1991, 3, 4, 904);
  {
    Transaction tx(*f.db);
    REQUIRE(tx.begin_status().ok());
    auto a = f.store->UpsertResident(h, u, Prov("7:1"));  // the same record line again
    REQUIRE(a.ok());
    auto b = f.store->UpsertResident(g, u, Prov("7:1"));  // another resident, same line
    REQUIRE(b.ok());
    REQUIRE(tx.Commit().ok());
    CHECK(f.FactOf(a->id, "name") == "test 7:1");
    CHECK(f.FactOf(a->id, "language") == "test 7:1");
    CHECK(f.FactOf(b->id, "birth_date") == "test 7:1");
  }
  auto rows = f.db->Prepare("SELECT count(*) FROM provenance");
  REQUIRE(rows->Step().value());
  CHECK(rows->Int(0) == 1);  // one row for line 7:1, shared by both residents' facts
  auto sets = f.db->Prepare("SELECT count(*) FROM fact_sets");
  REQUIRE(sets->Step().value());
  CHECK(sets->Int(0) == 2);  // one row per resident, all its facts in the mask
}

namespace {

// Rows of the population tables, in key order, for comparing two stores.
std::string DumpPopulation(Db& db) {
  std::string out;
  for (const char* sql :
       {"SELECT id||hetu||quote(first_names)||quote(language)||quote(phone) FROM residents "
        "ORDER BY id",
        "SELECT guardian_id||' '||ward_id FROM custody ORDER BY 1",
        "SELECT resident_id||kind||start_date FROM placements ORDER BY 1",
        "SELECT resident_id||' '||name||' '||source||' '||change_id||' '||fetched_at FROM facts "
        "ORDER BY 1",
        "SELECT resident_id||' '||provenance_id||' '||facts FROM fact_sets ORDER BY 1",
        "SELECT id||' '||source||' '||change_id FROM provenance ORDER BY id",
        "SELECT 'orphan '||resident_id FROM fact_sets WHERE resident_id NOT IN "
        "(SELECT id FROM residents)"}) {
    auto q = db.Prepare(sql);
    REQUIRE(q.ok());
    while (q->Step().value()) out += q->Text(0) + "\n";
    out += "--\n";
  }
  return out;
}

// A batch's worth of writes of every kind, with or without bulk mode: new residents (more than
// one bulk statement's worth), edits of residents whose rows are still collected (same record
// line and another), edits of residents whose rows were inserted already, custody (guardians
// fact), placements, a fact cleared, and an identity merge half-way.
std::string BulkScenario(bool bulk) {
  Fixture f;
  Transaction tx(*f.db);
  REQUIRE(tx.begin_status().ok());
  if (bulk) REQUIRE(f.store->BeginBulk().ok());
  const Date base = Date::FromYmd(1980, 1, 1);
  std::vector<Hetu> codes;
  std::vector<int64_t> ids;
  for (int i = 0; i < 150; ++i) {
    const std::string line = "1:" + std::to_string(i);
    codes.push_back(ParseHetu(MakeHetu(Date{base.days + i * 37}, 900 + i % 100)).value());
    ResidentUpdate u;
    u.name.Set(PersonName{"Aino", "Testinen"});
    u.language.Set("fi");
    if (i % 3 == 0) u.phone.Set("+358501110" + std::to_string(100 + i));
    auto up = f.store->UpsertResident(codes.back(), u, Prov(line.c_str()));
    REQUIRE(up.ok());
    ids.push_back(up->id);
    if (i % 5 == 1) {  // the same record line edits the new resident: its collected row
      ResidentUpdate e;
      e.email.Set("a" + std::to_string(i) + "@example.invalid");
      e.language.Clear();
      REQUIRE(f.store->UpdateResident(up->id, e, Prov(line.c_str())).ok());
    }
    if (i % 7 == 2) {
      REQUIRE(f.store->UpsertPlacement(Placement{up->id, "ecec", Date::FromYmd(2025, 8, 1), {}},
                                       Prov(line.c_str()))
                  .ok());
    }
    if (i % 11 == 3) {  // another line's custody change: the guardians fact on a collected row
      REQUIRE(f.store->UpsertCustody(Custody{ids[i - 1], up->id, {}, Date::FromYmd(2020, 1, 1), {}},
                                     Prov(("2:" + std::to_string(i)).c_str()))
                  .ok());
      REQUIRE(f.store->UpsertCustody(Custody{ids[i - 2], up->id, {}, Date::FromYmd(2020, 1, 1), {}},
                                     Prov(("3:" + std::to_string(i)).c_str()))
                  .ok());
    }
    if (i % 13 == 4) {  // an older resident, its rows long inserted: the statements
      ResidentUpdate e;
      e.name.Clear();
      e.phone.Set("+358501119" + std::to_string(100 + i));
      REQUIRE(f.store->UpdateResident(ids[i / 2], e, Prov(("4:" + std::to_string(i)).c_str())).ok());
    }
    if (i == 100) {  // both codes known: a merge, which reads and moves fact_sets rows
      auto merged = f.store->CorrectIdentityCode(codes[90].code, codes[95], Prov("5:1"));
      REQUIRE(merged.ok());
      REQUIRE(merged->merged_id);
    }
  }
  if (bulk) REQUIRE(f.store->EndBulk().ok());
  REQUIRE(tx.Commit().ok());
  return DumpPopulation(*f.db);
}

}  // namespace

TEST_CASE("bulk mode leaves the same rows as writing statement by statement", "[population]") {
  const std::string plain = BulkScenario(false);
  const std::string bulk = BulkScenario(true);
  CHECK(bulk == plain);
  // The scenario reached what it is about.
  CHECK(plain.find(" guardians test 3:") != std::string::npos);
  CHECK(plain.find(" placements test 1:") != std::string::npos);
  CHECK(plain.find(" email test 1:") != std::string::npos);
  CHECK(plain.find("orphan") == std::string::npos);
}

TEST_CASE("bulk mode: rows collected in a rolled-back transaction never appear", "[population]") {
  Fixture f;
  const Date base = Date::FromYmd(1960, 1, 1);
  auto add = [&](int i) {
    ResidentUpdate u;
    u.language.Set("sv");
    return f.store->UpsertResident(ParseHetu(MakeHetu(Date{base.days + i}, 950)).value(), u,
                                   Prov(("8:" + std::to_string(i)).c_str()));
  };
  {
    Transaction tx(*f.db);
    REQUIRE(tx.begin_status().ok());
    REQUIRE(f.store->BeginBulk().ok());
    for (int i = 0; i < 70; ++i) REQUIRE(add(i).ok());  // one statement's worth inserted, 6 not
    f.store->AbandonBulk();
  }  // rolled back
  {
    Transaction tx(*f.db);
    REQUIRE(tx.begin_status().ok());
    REQUIRE(f.store->BeginBulk().ok());
    for (int i = 100; i < 103; ++i) REQUIRE(add(i).ok());
    REQUIRE(f.store->EndBulk().ok());
    REQUIRE(tx.Commit().ok());
  }
  auto count = [&](const char* sql) {
    auto q = f.db->Prepare(sql);
    REQUIRE(q->Step().value());
    return q->Int(0);
  };
  CHECK(count("SELECT count(*) FROM residents") == 3);
  CHECK(count("SELECT count(*) FROM provenance") == 3);
  CHECK(count("SELECT count(*) FROM fact_sets") == 3);
  CHECK(count("SELECT count(*) FROM facts WHERE name = 'language' AND change_id LIKE '8:10_'") == 3);
  CHECK(count("SELECT count(*) FROM fact_sets WHERE provenance_id NOT IN "
              "(SELECT id FROM provenance)") == 0);
}
