#include "engine/store/sqlite.h"

#include <strings.h>

#include <sqlite3.h>

#include <fmt/format.h>

namespace ennakko {

namespace {
Status SqlError(sqlite3* db, int rc, std::string_view what) {
  std::string msg = fmt::format("sqlite {}: {} ({})", what, db ? sqlite3_errmsg(db) : "",
                                sqlite3_errstr(rc));
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED || rc == SQLITE_IOERR || rc == SQLITE_FULL) {
    return Status::Unavailable(std::move(msg));
  }
  if (rc == SQLITE_CONSTRAINT) return Status(StatusCode::kAlreadyExists, std::move(msg));
  return Status::Internal(std::move(msg));
}
}  // namespace

Stmt::Stmt(Stmt&& o) noexcept : db_(o.db_), s_(o.s_) { o.s_ = nullptr; }
Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(s_);
    db_ = o.db_;
    s_ = o.s_;
    o.s_ = nullptr;
  }
  return *this;
}
Stmt::~Stmt() { sqlite3_finalize(s_); }

Stmt& Stmt::Bind(int idx, int64_t v) {
  sqlite3_bind_int64(s_, idx, v);
  return *this;
}
Stmt& Stmt::Bind(int idx, double v) {
  sqlite3_bind_double(s_, idx, v);
  return *this;
}
Stmt& Stmt::Bind(int idx, std::string_view v) {
  sqlite3_bind_text(s_, idx, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::BindNoCopy(int idx, std::string_view v) {
  sqlite3_bind_text(s_, idx, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  return *this;
}
Stmt& Stmt::BindNull(int idx) {
  sqlite3_bind_null(s_, idx);
  return *this;
}

Result<bool> Stmt::Step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqlError(db_, rc, "step");
}

Status Stmt::Run() {
  for (;;) {
    auto r = Step();
    if (!r.ok()) {
      sqlite3_reset(s_);
      return r.status();
    }
    if (!*r) break;
  }
  sqlite3_reset(s_);
  return Status::Ok();
}

void Stmt::Reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}

bool Stmt::IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
int64_t Stmt::Int(int col) const { return sqlite3_column_int64(s_, col); }
double Stmt::Double(int col) const { return sqlite3_column_double(s_, col); }
std::string Stmt::Text(int col) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, col))) : std::string();
}
std::optional<std::string> Stmt::OptText(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Text(col);
}
std::optional<int64_t> Stmt::OptInt(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int(col);
}

Result<std::unique_ptr<Db>> Db::Open(const DbOptions& o) {
  // No memory statistics: with them every SQLite allocation takes a process-wide mutex (about 5 %
  // of a bulk load). Only possible before SQLite initialises; later calls fail harmlessly.
  static const int kNoMemStatus = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)kNoMemStatus;
  sqlite3* raw = nullptr;
  int flags = o.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(o.path.c_str(), &raw, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status st = Status::Unavailable(fmt::format("cannot open database {}: {}", o.path,
                                                raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    sqlite3_close(raw);
    return st;
  }
  std::unique_ptr<Db> db(new Db(raw, o.path));
  sqlite3_busy_timeout(raw, o.busy_timeout_ms);
  ENNAKKO_RETURN_IF_ERROR(db->Exec("PRAGMA foreign_keys = ON"));
  if (!o.read_only) {
    if (o.path != ":memory:") ENNAKKO_RETURN_IF_ERROR(db->Exec("PRAGMA journal_mode = WAL"));
    ENNAKKO_RETURN_IF_ERROR(
        db->Exec(o.synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL"));
    if (!o.auto_checkpoint) {
      // Only a bound for when the checkpointer cannot keep up (100,000 pages, ~400 MiB: above a
      // 1,000,000-resident snapshot's 72,000); the WAL file is cut back to 64 MiB once reused.
      ENNAKKO_RETURN_IF_ERROR(db->Exec("PRAGMA wal_autocheckpoint = 100000"));
      ENNAKKO_RETURN_IF_ERROR(db->Exec("PRAGMA journal_size_limit = 67108864"));
    }
  }
  return db;
}

Db::~Db() { sqlite3_close_v2(db_); }

Status Db::Exec(std::string_view sql) {
  std::string s(sql);
  if (auto start = s.find_first_not_of(" \t\n"); start != std::string::npos &&
      s.size() - start >= 8 && strncasecmp(s.c_str() + start, "ROLLBACK", 8) == 0) {
    ++rollbacks_;  // counted before running: SQLite may already have rolled back on an error
  }
  char* err = nullptr;
  int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    Status st = SqlError(db_, rc, "exec");
    return Status(st.code(), "sqlite exec: " + msg);
  }
  return Status::Ok();
}

Result<Stmt> Db::Prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &s, nullptr);
  if (rc != SQLITE_OK) return SqlError(db_, rc, fmt::format("prepare `{}`", sql.substr(0, 60)));
  return Stmt(db_, s);
}

int64_t Db::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }
int Db::Changes() const { return sqlite3_changes(db_); }

Result<int> Db::UserVersion() {
  auto st = Prepare("PRAGMA user_version");
  if (!st.ok()) return st.status();
  auto row = st->Step();
  if (!row.ok()) return row.status();
  return static_cast<int>(st->Int(0));
}

Transaction::Transaction(Db& db) : db_(db), begin_(db.Exec("BEGIN IMMEDIATE")) {
  done_ = !begin_.ok();
}
Transaction::~Transaction() {
  if (!done_) (void)db_.Exec("ROLLBACK");
}
Status Transaction::Commit() {
  if (done_) return begin_.ok() ? Status::FailedPrecondition("transaction already finished") : begin_;
  done_ = true;
  Status st = db_.Exec("COMMIT");
  if (!st.ok()) (void)db_.Exec("ROLLBACK");
  return st;
}

}  // namespace ennakko
