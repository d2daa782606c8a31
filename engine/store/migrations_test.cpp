#include "engine/store/migrations.h"

#include <filesystem>

#include <catch2/catch.hpp>

using namespace ennakko;

namespace {
std::string TempDbPath(const char* name) {
  auto dir = std::filesystem::temp_directory_path() / "ennakko-store-test";
  std::filesystem::create_directories(dir);
  auto p = dir / name;
  std::filesystem::remove(p);
  std::filesystem::remove(p.string() + "-wal");
  std::filesystem::remove(p.string() + "-shm");
  return p.string();
}
}  // namespace

TEST_CASE("migrations bring a new database to the latest version, in WAL mode", "[store]") {
  auto path = TempDbPath("fresh.db");
  auto db = OpenStore({.path = path});
  REQUIRE(db.ok());
  CHECK((*db)->UserVersion().value() == LatestSchemaVersion());
  auto mode = (*db)->Prepare("PRAGMA journal_mode");
  REQUIRE(mode.ok());
  REQUIRE(mode->Step().value());
  CHECK(mode->Text(0) == "wal");
  auto fk = (*db)->Prepare("PRAGMA foreign_keys");
  REQUIRE(fk->Step().value());
  CHECK(fk->Int(0) == 1);
  for (const char* table : {"residents", "custody", "facts", "connector_cursors", "quarantine",
                            "decisions", "outbox", "deliveries", "placements", "consents"}) {
    auto st = (*db)->Prepare("SELECT count(*) FROM sqlite_master WHERE type IN ('table', 'view') AND name=?");
    st->Bind(1, table);
    REQUIRE(st->Step().value());
    INFO(table);
    CHECK(st->Int(0) == 1);
  }
}

TEST_CASE("migrating twice is a no-op and keeps data", "[store]") {
  auto path = TempDbPath("twice.db");
  {
    auto db = OpenStore({.path = path});
    REQUIRE(db.ok());
    REQUIRE((*db)->Exec("INSERT INTO connector_cursors VALUES ('x', '7', '2026-01-01')").ok());
  }
  auto db = OpenStore({.path = path});
  REQUIRE(db.ok());
  auto st = (*db)->Prepare("SELECT cursor FROM connector_cursors WHERE connector='x'");
  REQUIRE(st->Step().value());
  CHECK(st->Text(0) == "7");
}

TEST_CASE("a database newer than the binary is refused", "[store]") {
  auto path = TempDbPath("newer.db");
  {
    auto db = Db::Open({.path = path});
    REQUIRE(db.ok());
    REQUIRE((*db)->Exec("PRAGMA user_version = 999").ok());
  }
  auto db = OpenStore({.path = path});
  REQUIRE_FALSE(db.ok());
  CHECK(db.status().code() == StatusCode::kFailedPrecondition);
}

TEST_CASE("a transaction that is not committed leaves nothing behind", "[store]") {
  auto db = OpenStore({.path = ":memory:"});
  REQUIRE(db.ok());
  {
    Transaction tx(**db);
    REQUIRE(tx.begin_status().ok());
    REQUIRE((*db)->Exec("INSERT INTO connector_cursors VALUES ('y', '1', 'now')").ok());
  }
  auto st = (*db)->Prepare("SELECT count(*) FROM connector_cursors");
  REQUIRE(st->Step().value());
  CHECK(st->Int(0) == 0);
}

TEST_CASE("the compact provenance migration keeps every facts row, readable through the view",
          "[store]") {
  auto path = TempDbPath("facts.db");
  auto db = Db::Open({.path = path});
  REQUIRE(db.ok());
  auto count = [&](const std::string& sql) {
    auto q = (*db)->Prepare(sql);
    REQUIRE(q.ok());
    REQUIRE(q->Step().value());
    return q->Int(0);
  };
  // The last version at which facts was still a table (found, not hard-coded).
  int before = 0;
  for (int v = 1; v <= LatestSchemaVersion(); ++v) {
    REQUIRE(MigrateTo(**db, v).ok());
    if (count("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'facts'") == 1) before = v;
  }
  REQUIRE(before > 0);
  REQUIRE(before < LatestSchemaVersion());
  db->reset();
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  db = Db::Open({.path = path});
  REQUIRE(db.ok());
  REQUIRE(MigrateTo(**db, before).ok());
  REQUIRE((*db)->Exec("INSERT INTO residents (id, hetu, updated_at) VALUES (1, 'a', 'x'), (2, 'b', 'x');"
                      "INSERT INTO facts VALUES (1, 'birth_date', 'vtj', '000000:1', '2026-11-20T06:00:00Z'),"
                      " (1, 'language', 'vtj', '000000:1', '2026-11-20T06:00:00Z'),"
                      " (1, 'phone', 'crm', '17', '2026-11-21T06:00:00Z'),"
                      " (2, 'guardians', 'vtj', '000001:4', '2026-11-22T06:00:00Z')").ok());
  REQUIRE(Migrate(**db).ok());
  CHECK(count("SELECT count(*) FROM sqlite_master WHERE type = 'view' AND name = 'facts'") == 1);
  CHECK(count("SELECT count(*) FROM facts") == 4);
  CHECK(count("SELECT count(*) FROM provenance") == 3);  // one per distinct (source, change, time)
  auto q = (*db)->Prepare("SELECT resident_id || ' ' || name || ' ' || source || ' ' || change_id || ' ' || "
                          "fetched_at FROM facts ORDER BY resident_id, name");
  REQUIRE(q.ok());
  std::vector<std::string> rows;
  while (q->Step().value()) rows.push_back(q->Text(0));
  CHECK(rows == std::vector<std::string>{"1 birth_date vtj 000000:1 2026-11-20T06:00:00Z",
                                         "1 language vtj 000000:1 2026-11-20T06:00:00Z",
                                         "1 phone crm 17 2026-11-21T06:00:00Z",
                                         "2 guardians vtj 000001:4 2026-11-22T06:00:00Z"});
  // An insert into the view still lands (as tools and tests write it), replacing the old row.
  REQUIRE((*db)->Exec("INSERT INTO facts VALUES (1, 'phone', 'crm', '18', '2026-11-23T06:00:00Z')").ok());
  CHECK(count("SELECT count(*) FROM facts WHERE resident_id = 1 AND name = 'phone' AND change_id = '18'") == 1);
  CHECK(count("SELECT count(*) FROM facts") == 4);
}
