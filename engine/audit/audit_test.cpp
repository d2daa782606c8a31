// Tests for the audit log writer, pseudonyms and tail. Verification has verify_test.cpp, the
// personal-data guard personal_data_guard_test.cpp. Identity codes here are synthetic (individual
// numbers 900-999).
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>
#include <vector>

#include "engine/audit/audit_log.h"
#include "engine/audit/pseudonym.h"
#include "engine/audit/tail.h"
#include "engine/audit/test_util.h"
#include "engine/audit/verify.h"
#include "engine/base/crypto.h"

namespace ennakko {
namespace {

using audit_testing::ReadAll;
using audit_testing::ReadLines;
using audit_testing::TempDir;
using audit_testing::WriteAll;
using nlohmann::json;
using nlohmann::ordered_json;

const auto kT0 = std::chrono::system_clock::time_point(std::chrono::seconds(1795334400));

std::unique_ptr<AuditLog> OpenOrDie(const std::string& path, const Clock& clock,
                                    bool fsync_each_append = false) {
  auto log = AuditLog::Open({.path = path, .fsync_each_append = fsync_each_append}, clock);
  INFO(log.status().ToString());
  REQUIRE(log.ok());
  return std::move(log).value();
}

TEST_CASE("Pseudonym is stable, keyed and sees the century sign", "[audit][pseudonym]") {
  const Pseudonymizer p("test-key-0123456789abcdef0123456789abcdef");
  const std::string a = p.Of("010594Y9032");
  CHECK(a == p.Of("010594Y9032"));
  CHECK(a.size() == 26);
  CHECK(a.rfind("p-", 0) == 0);
  CHECK(a == "p-" + HmacSha256Hex("test-key-0123456789abcdef0123456789abcdef", "010594Y9032")
                        .substr(0, 24));
  CHECK(a != p.Of("010594-9032"));  // same digits, other century sign: another person
  CHECK(a != p.Of("020594X903P"));
  CHECK(a != Pseudonymizer("another-key").Of("010594Y9032"));
}

TEST_CASE("Appends form a hash chain with keys in a fixed order", "[audit][log]") {
  TempDir dir;
  const std::string path = dir.File("nested/dirs/audit.jsonl");  // parents are created
  FakeClock clock(kT0);
  auto log = OpenOrDie(path, clock);
  CHECK(log->seq() == 0);
  CHECK(log->head_hash() == std::string(64, '0'));
  REQUIRE(log->Append("rule.fired", {{"rule", "r-1"}, {"resident", "p-0a1b2c3d4e5f60718293a4b5"}})
              .ok());
  clock.Advance(std::chrono::milliseconds(1500));
  REQUIRE(log->Append("notice.sent", {{"channel", "sms"}, {"attempt", 1}}).ok());
  REQUIRE(log->Append("campaign.paused", json()).ok());
  REQUIRE(log->Flush().ok());
  CHECK(log->seq() == 3);

  const auto lines = ReadLines(path);
  REQUIRE(lines.size() == 3);
  std::string prev(64, '0');
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto record = ordered_json::parse(lines[i]);
    std::vector<std::string> keys;
    for (const auto& item : record.items()) keys.push_back(item.key());
    REQUIRE(keys.size() >= 4);
    CHECK(std::vector<std::string>(keys.begin(), keys.begin() + 4) ==
          std::vector<std::string>{"seq", "ts", "type", "prev"});
    CHECK(record["seq"] == i + 1);
    CHECK(record["prev"] == prev);
    CHECK(record.dump() == lines[i]);  // exactly what ordered_json writes
    prev = Sha256Hex(lines[i]);
  }
  CHECK(log->head_hash() == prev);
  const auto second = json::parse(lines[1]);
  CHECK(second["ts"] == FormatTimestamp(kT0 + std::chrono::milliseconds(1500)));
  CHECK(second["channel"] == "sms");
  CHECK(second["attempt"] == 1);

  auto report = VerifyAuditLog(path, AuditHead{log->seq(), log->head_hash()});
  REQUIRE(report.ok());
  CHECK(report->ok());
}

TEST_CASE("Reopening a log continues its chain", "[audit][log]") {
  TempDir dir;
  const std::string path = dir.File("audit.jsonl");
  FakeClock clock(kT0);
  std::string head;
  {
    auto log = OpenOrDie(path, clock);
    for (int i = 0; i < 3; ++i) REQUIRE(log->Append("step", {{"i", i}}).ok());
    head = log->head_hash();
  }  // closing flushes
  auto log = OpenOrDie(path, clock);
  CHECK(log->seq() == 3);
  CHECK(log->head_hash() == head);
  REQUIRE(log->Append("step", {{"i", 3}}).ok());
  REQUIRE(log->Flush().ok());
  const auto lines = ReadLines(path);
  REQUIRE(lines.size() == 4);
  const auto fourth = json::parse(lines[3]);
  CHECK(fourth["seq"] == 4);
  CHECK(fourth["prev"] == head);
  auto report = VerifyAuditLog(path, AuditHead{4, log->head_hash()});
  REQUIRE(report.ok());
  CHECK(report->ok());
}

TEST_CASE("A second writer on the same file is refused", "[audit][log]") {
  TempDir dir;
  FakeClock clock(kT0);
  auto first = OpenOrDie(dir.File("audit.jsonl"), clock);
  auto second = AuditLog::Open({.path = dir.File("audit.jsonl")}, clock);
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == StatusCode::kFailedPrecondition);
}

TEST_CASE("A torn last line is set aside and recorded", "[audit][log]") {
  TempDir dir;
  const std::string path = dir.File("audit.jsonl");
  FakeClock clock(kT0);
  std::string head;
  {
    auto log = OpenOrDie(path, clock);
    REQUIRE(log->Append("step", {{"i", 1}}).ok());
    REQUIRE(log->Append("step", {{"i", 2}}).ok());
    head = log->head_hash();
  }
  const std::string torn = R"({"seq":3,"ts":"2026-11-22T08:00:00.000Z","ty)";
  WriteAll(path, ReadAll(path) + torn);

  auto log = OpenOrDie(path, clock);
  CHECK(log->seq() == 3);
  CHECK(ReadAll(path + ".torn-3") == torn);
  const auto lines = ReadLines(path);
  REQUIRE(lines.size() == 3);
  const auto recovery = json::parse(lines[2]);
  CHECK(recovery["type"] == "audit.torn_tail_recovered");
  CHECK(recovery["bytes"] == torn.size());
  CHECK(recovery["file"] == "audit.jsonl.torn-3");
  CHECK(recovery["prev"] == head);
  REQUIRE(log->Append("step", {{"i", 4}}).ok());
  REQUIRE(log->Flush().ok());
  auto report = VerifyAuditLog(path, std::nullopt);
  REQUIRE(report.ok());
  CHECK(report->ok());
  CHECK(report->last_seq == 4);
}

TEST_CASE("A torn first line, and an earlier copy of the torn bytes, are kept", "[audit][log]") {
  TempDir dir;
  const std::string path = dir.File("audit.jsonl");
  WriteAll(path, R"({"seq":1,"t)");
  WriteAll(path + ".torn-1", "from an earlier crash");
  FakeClock clock(kT0);
  auto log = OpenOrDie(path, clock);
  CHECK(log->seq() == 1);
  CHECK(ReadAll(path + ".torn-1") == "from an earlier crash");
  CHECK(ReadAll(path + ".torn-1.1") == R"({"seq":1,"t)");
  const auto first = json::parse(ReadLines(path).at(0));
  CHECK(first["prev"] == std::string(64, '0'));
  CHECK(first["file"] == "audit.jsonl.torn-1.1");
}

TEST_CASE("A log whose last line is not a record is not appended to", "[audit][log]") {
  TempDir dir;
  const std::string path = dir.File("audit.jsonl");
  WriteAll(path, "this is not json\n");
  FakeClock clock(kT0);
  auto log = AuditLog::Open({.path = path}, clock);
  REQUIRE_FALSE(log.ok());
  CHECK(log.status().code() == StatusCode::kFailedPrecondition);
  CHECK(ReadAll(path) == "this is not json\n");
}

TEST_CASE("Append refuses personal data and bad events, writing nothing", "[audit][log]") {
  TempDir dir;
  const std::string path = dir.File("audit.jsonl");
  FakeClock clock(kT0);
  auto log = OpenOrDie(path, clock);
  REQUIRE(log->Append("ok", {{"n", 1}}).ok());
  REQUIRE(log->Flush().ok());
  const std::string before = ReadAll(path);
  const std::string head = log->head_hash();

  const std::vector<std::pair<std::string, json>> refused = {
      {"hetu at top level", {{"resident", "010594Y9032"}}},
      {"hetu nested in an array", {{"batch", {{{"who", {"x", "020594X903P"}}}}}}},
      {"hetu as a key", {{"by", {{"010516B903X", true}}}}},
      {"phone", {{"note", "call +358401234567"}}},
      {"national phone", {{"contact", {{"sms", "0401234567"}}}}},
      {"email", {{"deep", {{"er", {{"mail", "maija.meikalainen@example.fi"}}}}}}},
      {"reserved key", {{"seq", 99}}},
      {"not an object", json::array({1, 2})},
      {"invalid UTF-8", {{"name", std::string("\xff\xfe")}}},
  };
  for (const auto& [name, fields] : refused) {
    SECTION(name) {
      const Status st = log->Append("rule.fired", fields);
      CHECK(st.code() == StatusCode::kInvalidArgument);
      CHECK(st.message().find("010594") == std::string::npos);  // never echoes the data
      CHECK(st.message().find("0401234567") == std::string::npos);
    }
  }
  SECTION("hetu in the type") {
    CHECK(log->Append("resident 010594Y9032", json()).code() == StatusCode::kInvalidArgument);
  }
  SECTION("empty type") { CHECK(log->Append("", json()).code() == StatusCode::kInvalidArgument); }
  REQUIRE(log->Flush().ok());
  CHECK(ReadAll(path) == before);
  CHECK(log->seq() == 1);
  CHECK(log->head_hash() == head);
}

TEST_CASE("fsync_each_append makes each event durable at once", "[audit][log]") {
  TempDir dir;
  const std::string path = dir.File("audit.jsonl");
  FakeClock clock(kT0);
  auto log = OpenOrDie(path, clock, /*fsync_each_append=*/true);
  REQUIRE(log->Append("step", json()).ok());
  CHECK(ReadLines(path).size() == 1);
}

TEST_CASE("Concurrent appends keep one unbroken chain", "[audit][log]") {
  TempDir dir;
  const std::string path = dir.File("audit.jsonl");
  SystemClock clock;
  auto log = OpenOrDie(path, clock);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < 500; ++i) (void)log->Append("step", {{"thread", t}, {"i", i}});
    });
  }
  for (auto& thread : threads) thread.join();
  REQUIRE(log->Flush().ok());
  CHECK(log->seq() == 2000);
  auto report = VerifyAuditLog(path, AuditHead{log->seq(), log->head_hash()});
  REQUIRE(report.ok());
  CHECK(report->ok());
  CHECK(report->lines == 2000);
}

// Measured on the 2-core dev VM, 300,000 events with four fields each (building the fields
// included): Release 340,000-430,000 appends/s; Debug with ASan+UBSan 11,000-26,000/s.
// Run with: audit_test "[.benchmark]".
TEST_CASE("Append throughput", "[.benchmark]") {
  TempDir dir;
  SystemClock clock;
  auto log = OpenOrDie(dir.File("audit.jsonl"), clock);
  const Pseudonymizer pseudonyms("bench-key");
  const std::string resident = pseudonyms.Of("010594Y9032");
  constexpr int kEvents = 300000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kEvents; ++i) {
    (void)log->Append("rule.fired", {{"rule", "vaccination.mmr.reminder"},
                                     {"resident", resident},
                                     {"decision", "notify"},
                                     {"rule_set", 42}});
  }
  REQUIRE(log->Flush().ok());
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  WARN("Append: " << static_cast<long>(kEvents / took.count()) << " events/s buffered");
}

TEST_CASE("Tail prints the last complete lines", "[audit][tail]") {
  TempDir dir;
  const std::string path = dir.File("audit.jsonl");
  FakeClock clock(kT0);
  {
    auto log = OpenOrDie(path, clock);
    for (int i = 1; i <= 5; ++i) REQUIRE(log->Append("step", {{"i", i}}).ok());
  }
  const auto lines = ReadLines(path);
  WriteAll(path, ReadAll(path) + R"({"seq":6,"ts)");  // being written: never printed
  const std::atomic<bool> stop{false};
  std::ostringstream out;
  SECTION("last two") {
    REQUIRE(TailAuditLog(path, 2, false, out, stop).ok());
    CHECK(out.str() == lines[3] + "\n" + lines[4] + "\n");
  }
  SECTION("more than there are") {
    REQUIRE(TailAuditLog(path, 100, false, out, stop).ok());
    CHECK(ReadLines(path).size() == 6);
    CHECK(out.str() == ReadAll(path).substr(0, ReadAll(path).rfind('\n') + 1));
  }
  SECTION("none") {
    REQUIRE(TailAuditLog(path, 0, false, out, stop).ok());
    CHECK(out.str().empty());
  }
  SECTION("missing file") {
    CHECK(TailAuditLog(dir.File("nope.jsonl"), 3, false, out, stop).code() ==
          StatusCode::kNotFound);
  }
}

TEST_CASE("Tail follows a log that does not exist yet", "[audit][tail]") {
  TempDir dir;
  const std::string path = dir.File("audit.jsonl");
  std::atomic<bool> stop{false};
  std::ostringstream out;  // read only after the tail thread is joined
  Status tailed;
  std::thread tail([&] { tailed = TailAuditLog(path, 10, true, out, stop); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  FakeClock clock(kT0);
  auto log = OpenOrDie(path, clock);
  REQUIRE(log->Append("step", {{"i", 1}}).ok());
  REQUIRE(log->Flush().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  REQUIRE(log->Append("step", {{"i", 2}}).ok());
  REQUIRE(log->Flush().ok());
  {
    std::ofstream partial(path, std::ios::binary | std::ios::app);
    partial << R"({"seq":3,"ts")";  // a line still being written
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  stop = true;
  tail.join();
  CHECK(tailed.ok());
  const auto lines = ReadLines(path);
  REQUIRE(lines.size() == 3);
  CHECK(out.str() == lines[0] + "\n" + lines[1] + "\n");
}

}  // namespace
}  // namespace ennakko
