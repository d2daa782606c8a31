#include "engine/audit/verify.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

#include "engine/base/crypto.h"

namespace ennakko {

namespace {

const std::string kZeroHash(64, '0');

bool IsHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string Lines(uint64_t n) { return std::to_string(n) + (n == 1 ? " line" : " lines"); }

// Walks the lines in order, carrying what the next line must match.
class ChainChecker {
 public:
  explicit ChainChecker(std::optional<AuditHead> expected) : expected_(std::move(expected)) {}

  void Line(uint64_t number, const std::string& text) {
    report_.lines = number;
    const std::string hash = Sha256Hex(text);
    const std::string prev_hash = std::move(prev_hash_);
    prev_hash_ = hash;  // the next line must chain to these bytes, whatever they are
    report_.head_hash = hash;
    auto record = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (record.is_discarded() || !record.is_object()) {
      Add(number, "not a JSON object (the line is damaged or was not written by the audit log)");
      ++unreadable_run_;
      return;
    }
    auto seq_it = record.find("seq");
    auto prev_it = record.find("prev");
    if (seq_it == record.end() || !seq_it->is_number_unsigned()) {
      Add(number, "has no unsigned \"seq\"");
      ++unreadable_run_;
      return;
    }
    if (prev_it == record.end() || !prev_it->is_string() ||
        !IsHex64(prev_it->get_ref<const std::string&>())) {
      Add(number, "has no 64-hex-digit \"prev\"");
      ++unreadable_run_;
      return;
    }
    const uint64_t seq = seq_it->get<uint64_t>();
    const bool chained = prev_it->get_ref<const std::string&>() == prev_hash;
    CheckSeqAndChain(number, seq, chained);
    unreadable_run_ = 0;
    if (seq > max_seq_) max_seq_ = seq;
    report_.last_seq = seq;
    if (expected_ && seq == expected_->seq && !head_line_) {
      head_line_ = number;
      if (hash != expected_->hash) {
        Add(number, "seq " + std::to_string(seq) +
                        " does not match the expected head hash: this line was changed");
      }
    }
  }

  void TornTail(uint64_t number, size_t bytes) {
    report_.lines = number;
    Add(number, "the file ends without a newline after " + std::to_string(bytes) +
                    " bytes: the last append was cut off (a crash mid-write); opening the log "
                    "for appending sets these bytes aside");
  }

  VerifyReport Finish() {
    if (expected_ && !head_line_) {
      if (expected_->seq > report_.last_seq) {
        Add(report_.lines + 1, "the log ends at seq " + std::to_string(report_.last_seq) +
                                   " but the expected head is seq " +
                                   std::to_string(expected_->seq) + ": " +
                                   Lines(expected_->seq - report_.last_seq) + " cut off the end");
      } else if (expected_->seq > 0) {
        Add(report_.lines, "no line has the expected head's seq " + std::to_string(expected_->seq) +
                               ": it was removed or renumbered");
      }
    }
    if (report_.head_hash.empty()) report_.head_hash = kZeroHash;
    return std::move(report_);
  }

 private:
  void CheckSeqAndChain(uint64_t number, uint64_t seq, bool chained) {
    const std::string before =
        number == 1 ? "the start of the log" : "line " + std::to_string(number - 1);
    const uint64_t want = max_seq_ + 1;
    // Unreadable lines just before (already reported) may each have held the next seq.
    const bool in_sequence = seq >= want && seq <= want + unreadable_run_;
    if (in_sequence) {
      if (!chained) {
        Add(number,
            "\"prev\" does not match the hash of " + before + ": " + before + " was changed");
      }
    } else if (seq > want) {
      const uint64_t missing = seq - want - unreadable_run_;
      if (chained) {
        Add(number, "seq jumps from " + std::to_string(max_seq_) + " to " + std::to_string(seq) +
                        " although \"prev\" matches " + before + ": this line's seq was changed");
      } else if (number == 1) {
        Add(number, "the log starts at seq " + std::to_string(seq) + ": " + Lines(missing) +
                        " removed from the start");
      } else {
        Add(number, "seq jumps from " + std::to_string(max_seq_) + " to " + std::to_string(seq) +
                        " and \"prev\" does not match " + before + ": " + Lines(missing) +
                        " removed before this one");
      }
    } else {
      Add(number, "seq " + std::to_string(seq) + " comes after seq " + std::to_string(max_seq_) +
                      ": lines were reordered or duplicated" +
                      (chained ? "" : ", and \"prev\" does not match " + before));
    }
  }

  void Add(uint64_t line, std::string problem) {
    report_.findings.push_back({line, std::move(problem)});
  }

  const std::optional<AuditHead> expected_;
  VerifyReport report_;
  std::string prev_hash_ = kZeroHash;
  uint64_t max_seq_ = 0;
  uint64_t unreadable_run_ = 0;        // unreadable lines since the last readable one
  std::optional<uint64_t> head_line_;  // the line that carries expected_->seq
};

}  // namespace

Result<VerifyReport> VerifyAuditLog(const std::string& path,
                                    std::optional<AuditHead> expected_head) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec(errno, std::generic_category());
    if (errno == ENOENT) return Status::NotFound(path + " does not exist");
    return Status::Unavailable("cannot open " + path + ": " + ec.message());
  }
  ChainChecker checker(std::move(expected_head));
  std::string line;
  uint64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (in.eof()) {  // getline stopped at the end of the file, not at a newline
      checker.TornTail(number, line.size());
      break;
    }
    checker.Line(number, line);
  }
  if (in.bad()) return Status::Unavailable("read error in " + path);
  return checker.Finish();
}

}  // namespace ennakko
