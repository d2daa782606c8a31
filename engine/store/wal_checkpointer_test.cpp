#include "engine/store/wal_checkpointer.h"

#include <unistd.h>

#include <filesystem>
#include <thread>

#include <catch2/catch.hpp>

#include "engine/store/migrations.h"

using namespace ennakko;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {
struct TempStore {
  fs::path dir = fs::temp_directory_path() / ("ennakko-wal-test-" + std::to_string(::getpid()));
  TempStore() {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~TempStore() { fs::remove_all(dir); }
  std::string path() const { return (dir / "store.db").string(); }
};

// Writes enough rows to take the WAL well past SQLite's automatic-checkpoint threshold (1,000 pages).
void WriteMuch(Db& db) {
  REQUIRE(db.Exec("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, payload TEXT)").ok());
  Transaction tx(db);
  REQUIRE(tx.begin_status().ok());
  auto st = db.Prepare("INSERT INTO filler (payload) VALUES (?)");
  REQUIRE(st.ok());
  const std::string payload(1000, 'x');
  for (int i = 0; i < 8000; ++i) {
    st->Reset();
    st->Bind(1, payload);
    REQUIRE(st->Run().ok());
  }
  REQUIRE(tx.Commit().ok());
}
}  // namespace

TEST_CASE("a writer without automatic checkpoints leaves the WAL to the checkpointer thread", "[store][wal]") {
  TempStore t;
  auto db = OpenStore({.path = t.path(), .auto_checkpoint = false}).value();
  const auto main_before = fs::file_size(t.path());
  WriteMuch(*db);
  // The commit did not copy anything into the database file (it would have with the default).
  CHECK(fs::file_size(t.path()) == main_before);
  CHECK(fs::file_size(t.path() + "-wal") > 8000u * 1000u);
  {
    auto checkpointer = WalCheckpointer::Start(t.path(), true, 10ms).value();
    for (int i = 0; i < 500 && (checkpointer->checkpoints() == 0 || checkpointer->backlog() > 0); ++i) {
      std::this_thread::sleep_for(10ms);
    }
    CHECK(checkpointer->checkpoints() > 0);
    CHECK(checkpointer->backlog() == 0);
  }
  CHECK(fs::file_size(t.path()) > 8000u * 1000u);  // the rows are in the database file now
  auto count = db->Prepare("SELECT count(*) FROM filler").value();
  REQUIRE(count.Step().value());
  CHECK(count.Int(0) == 8000);
}

TEST_CASE("by default a commit past the threshold checkpoints itself", "[store][wal]") {
  TempStore t;
  auto db = OpenStore({.path = t.path()}).value();
  WriteMuch(*db);
  CHECK(fs::file_size(t.path()) > 8000u * 1000u);
}

TEST_CASE("an in-memory database has no checkpointer", "[store][wal]") {
  CHECK(WalCheckpointer::Start(":memory:", true, 10ms).status().code() == StatusCode::kInvalidArgument);
}
