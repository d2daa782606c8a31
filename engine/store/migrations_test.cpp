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
    auto st = (*db)->Prepare("SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?");
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
