// Tests for VerifyAuditLog: an intact log passes, and each kind of tampering is found and named by
// line.
#include "engine/audit/verify.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "engine/audit/audit_log.h"
#include "engine/audit/test_util.h"
#include "engine/base/crypto.h"

namespace ennakko {
namespace {

using audit_testing::ReadAll;
using audit_testing::ReadLines;
using audit_testing::TempDir;
using audit_testing::WriteAll;
using audit_testing::WriteLines;

// Writes a log of `n` events and returns its head.
AuditHead WriteLog(const std::string& path, int n) {
  FakeClock clock(std::chrono::system_clock::time_point(std::chrono::seconds(1795334400)));
  auto log = AuditLog::Open({.path = path}, clock);
  REQUIRE(log.ok());
  for (int i = 1; i <= n; ++i) {
    REQUIRE((*log)->Append("step", {{"i", i}, {"resident", "p-00112233445566778899aabb"}}).ok());
  }
  REQUIRE((*log)->Flush().ok());
  return {(*log)->seq(), (*log)->head_hash()};
}

VerifyReport Verify(const std::string& path, std::optional<AuditHead> head = std::nullopt) {
  auto report = VerifyAuditLog(path, std::move(head));
  INFO(report.status().ToString());
  REQUIRE(report.ok());
  return std::move(report).value();
}

// True if some finding is on `line` and its text contains `words`.
bool HasFinding(const VerifyReport& report, uint64_t line, const std::string& words) {
  return std::any_of(report.findings.begin(), report.findings.end(), [&](const AuditFinding& f) {
    return f.line == line && f.problem.find(words) != std::string::npos;
  });
}

std::string Describe(const VerifyReport& report) {
  std::string s;
  for (const auto& f : report.findings)
    s += "line " + std::to_string(f.line) + ": " + f.problem + "\n";
  return s;
}

TEST_CASE("An intact log verifies", "[audit][verify]") {
  TempDir dir;
  const std::string path = dir.File("audit.jsonl");
  const AuditHead head = WriteLog(path, 3);
  const auto report = Verify(path, head);
  INFO(Describe(report));
  CHECK(report.ok());
  CHECK(report.lines == 3);
  CHECK(report.last_seq == 3);
  CHECK(report.head_hash == head.hash);
  CHECK(Verify(path, AuditHead{2, Sha256Hex(ReadLines(path)[1])}).ok());  // an older head
}

TEST_CASE("An empty log verifies", "[audit][verify]") {
  TempDir dir;
  WriteAll(dir.File("audit.jsonl"), "");
  const auto report = Verify(dir.File("audit.jsonl"), AuditHead{0, std::string(64, '0')});
  CHECK(report.ok());
  CHECK(report.lines == 0);
  CHECK(report.head_hash == std::string(64, '0'));
}

TEST_CASE("A missing log is NotFound", "[audit][verify]") {
  TempDir dir;
  CHECK(VerifyAuditLog(dir.File("nope.jsonl"), std::nullopt).status().code() ==
        StatusCode::kNotFound);
}

TEST_CASE("Tampering is found and located", "[audit][verify]") {
  TempDir dir;
  const std::string path = dir.File("audit.jsonl");
  const AuditHead head = WriteLog(path, 4);
  auto lines = ReadLines(path);

  SECTION("an edited field breaks the next line's prev") {
    lines[1].replace(lines[1].find("\"i\":2"), 5, "\"i\":7");
    WriteLines(path, lines);
    const auto report = Verify(path, head);
    INFO(Describe(report));
    CHECK(report.findings.size() == 1);
    CHECK(HasFinding(report, 3, "line 2 was changed"));
  }
  SECTION("an edited last line no longer matches the expected head") {
    lines[3].replace(lines[3].find("\"i\":4"), 5, "\"i\":5");
    WriteLines(path, lines);
    const auto report = Verify(path, head);
    INFO(Describe(report));
    CHECK(HasFinding(report, 4, "expected head"));
    CHECK_FALSE(Verify(path).findings.size() > 0);  // invisible without a head, by design
  }
  SECTION("a removed line leaves a seq gap and a broken chain") {
    lines.erase(lines.begin() + 1);
    WriteLines(path, lines);
    const auto report = Verify(path, head);
    INFO(Describe(report));
    CHECK(HasFinding(report, 2, "1 line removed"));
  }
  SECTION("a removed first line") {
    lines.erase(lines.begin());
    WriteLines(path, lines);
    const auto report = Verify(path, head);
    INFO(Describe(report));
    CHECK(HasFinding(report, 1, "starts at seq 2"));
  }
  SECTION("swapped lines go backwards") {
    std::swap(lines[1], lines[2]);
    WriteLines(path, lines);
    const auto report = Verify(path, head);
    INFO(Describe(report));
    CHECK(HasFinding(report, 3, "reordered"));
    CHECK(HasFinding(report, 2, "does not match"));
  }
  SECTION("a cut-off tail is seen against the expected head") {
    lines.pop_back();
    WriteLines(path, lines);
    const auto report = Verify(path, head);
    INFO(Describe(report));
    CHECK(report.last_seq == 3);
    CHECK(HasFinding(report, 4, "1 line cut off the end"));
    CHECK(Verify(path).ok());  // without a head a shorter log looks whole
  }
  SECTION("an unparseable line") {
    lines[2] = "garbage";
    WriteLines(path, lines);
    const auto report = Verify(path, head);
    INFO(Describe(report));
    CHECK(HasFinding(report, 3, "not a JSON object"));
    CHECK(HasFinding(report, 4, "line 3 was changed"));
  }
  SECTION("a torn last line") {
    WriteAll(path, ReadAll(path) + R"({"seq":5,"t)");
    const auto report = Verify(path, head);
    INFO(Describe(report));
    CHECK(report.findings.size() == 1);
    CHECK(HasFinding(report, 5, "without a newline"));
    CHECK(report.lines == 5);
    CHECK(report.last_seq == 4);
  }
  SECTION("all problems are reported, not just the first") {
    lines[0].replace(lines[0].find("\"i\":1"), 5, "\"i\":9");
    lines[3] = "{}";
    WriteLines(path, lines);
    const auto report = Verify(path, head);
    INFO(Describe(report));
    CHECK(HasFinding(report, 2, "line 1 was changed"));
    CHECK(HasFinding(report, 4, "no unsigned \"seq\""));
    CHECK(HasFinding(report, 5, "cut off the end"));
  }
}

}  // namespace
}  // namespace ennakko
