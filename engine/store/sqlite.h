// A thin RAII wrapper over one SQLite connection: statements, transactions, errors as Status.
//
// A Db owns one sqlite3 connection opened in WAL mode with a busy timeout and foreign keys on. A
// Db is not thread-safe: use one Db per thread (WAL lets readers run beside the one writer).
// Stmt is a prepared statement bound to its Db; it must not outlive it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "engine/base/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ennakko {

struct DbOptions {
  std::string path;            // a file path, or ":memory:" for tests
  int busy_timeout_ms = 5000;  // how long a writer waits for the lock before SQLITE_BUSY
  bool read_only = false;      // open an existing database for reading only
  // synchronous=FULL makes every commit durable across power loss; NORMAL in WAL mode is durable
  // across process crashes (the outbox guarantee) and much faster. FULL is the default.
  bool synchronous_full = true;
  // False: this connection checkpoints the WAL at commit only past 100,000 pages, a bound; a
  // WalCheckpointer (engine/store/wal_checkpointer.h) does it on a thread of its own.
  bool auto_checkpoint = true;
};

class Stmt {
 public:
  Stmt(Stmt&&) noexcept;
  Stmt& operator=(Stmt&&) noexcept;
  ~Stmt();

  // Bind by 1-based index. Binding std::nullopt binds NULL.
  Stmt& Bind(int idx, int64_t v);
  Stmt& Bind(int idx, int v) { return Bind(idx, static_cast<int64_t>(v)); }
  Stmt& Bind(int idx, double v);
  Stmt& Bind(int idx, std::string_view v);
  Stmt& Bind(int idx, const char* v) { return Bind(idx, std::string_view(v)); }
  Stmt& Bind(int idx, const std::string& v) { return Bind(idx, std::string_view(v)); }
  Stmt& BindNull(int idx);
  // Binds text without copying it: the caller keeps `v` alive until the statement has run, and
  // binds the parameter again before the next run (bulk writers, where the copy shows).
  Stmt& BindNoCopy(int idx, std::string_view v);
  Stmt& BindNoCopy(int idx, const std::string& v) { return BindNoCopy(idx, std::string_view(v)); }
  Stmt& BindNoCopy(int idx, const std::optional<std::string>& v) {
    return v ? BindNoCopy(idx, std::string_view(*v)) : BindNull(idx);
  }
  template <typename T>
  Stmt& Bind(int idx, const std::optional<T>& v) {
    return v ? Bind(idx, *v) : BindNull(idx);
  }

  // Step once: Result true when a row is available, false when done.
  Result<bool> Step();
  // Run to completion, ignoring rows (INSERT/UPDATE/DELETE).
  Status Run();
  void Reset();  // reset and clear bindings, ready to bind again

  bool IsNull(int col) const;
  int64_t Int(int col) const;
  double Double(int col) const;
  std::string Text(int col) const;  // "" for NULL
  std::optional<std::string> OptText(int col) const;
  std::optional<int64_t> OptInt(int col) const;

 private:
  friend class Db;
  Stmt(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  sqlite3* db_ = nullptr;
  sqlite3_stmt* s_ = nullptr;
};

class Db {
 public:
  static Result<std::unique_ptr<Db>> Open(const DbOptions& options);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  Status Exec(std::string_view sql);  // one or more statements, no results
  Result<Stmt> Prepare(std::string_view sql);
  int64_t LastInsertRowId() const;
  int Changes() const;  // rows changed by the last statement
  // How many ROLLBACKs this connection has run through Exec (Transaction runs them there): a
  // cache of rows written in a transaction is valid only while this stays the same.
  uint64_t rollbacks() const { return rollbacks_; }
  // PRAGMA user_version, which the migrations use as the schema version.
  Result<int> UserVersion();
  const std::string& path() const { return path_; }

 private:
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
  uint64_t rollbacks_ = 0;
};

// RAII transaction: BEGIN IMMEDIATE on construction, ROLLBACK on destruction unless Commit()ed.
class Transaction {
 public:
  explicit Transaction(Db& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  const Status& begin_status() const { return begin_; }
  Status Commit();

 private:
  Db& db_;
  Status begin_;
  bool done_ = false;
};

}  // namespace ennakko
