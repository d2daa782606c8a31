#include "engine/dispatch/sms_reply.h"

#include <array>
#include <cstring>
#include <vector>

namespace ennakko {

namespace {

constexpr std::string_view kCodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";  // as ReplyCode

// Decodes one UTF-8 sequence at `i`; returns the code point and advances `i`, or returns -1 and
// advances by one byte for an invalid sequence.
int32_t NextCodePoint(std::string_view s, size_t& i) {
  auto b = static_cast<unsigned char>(s[i]);
  int len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + static_cast<size_t>(len) > s.size()) {
    ++i;
    return -1;
  }
  int32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
  for (int k = 1; k < len; ++k) {
    auto c = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
    if ((c >> 6) != 0x2) {
      ++i;
      return -1;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  i += static_cast<size_t>(len);
  return cp;
}

void AppendUtf8(std::string& out, int32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

int32_t FoldCodePoint(int32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 32;  // À..Þ except ×
  // Latin Extended-A: upper/lower pairs at even/odd code points, except the ranges where the
  // pairs start on an odd code point (Ĺ..Ň and Ź..Ž); ı (0x131) and ĸ (0x138) have no pair here.
  if ((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177)) return cp % 2 == 0 ? cp + 1 : cp;
  if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) return cp % 2 == 1 ? cp + 1 : cp;
  if (cp == 0x178) return 0xFF;  // Ÿ
  return cp;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Words split on white space, with punctuation trimmed from both ends.
std::vector<std::string> Words(std::string_view text) {
  static constexpr std::string_view kPunct = ".,;:!?\"'()[]-";
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && IsSpace(text[i])) ++i;
    size_t start = i;
    while (i < text.size() && !IsSpace(text[i])) ++i;
    std::string_view w = text.substr(start, i - start);
    while (!w.empty() && kPunct.find(w.front()) != std::string_view::npos) w.remove_prefix(1);
    while (!w.empty() && kPunct.find(w.back()) != std::string_view::npos) w.remove_suffix(1);
    if (!w.empty()) out.emplace_back(w);
  }
  return out;
}

}  // namespace

std::string FoldCase(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    int32_t cp = NextCodePoint(text, i);
    if (cp < 0) {
      out.append(text.substr(start, i - start));
      continue;
    }
    AppendUtf8(out, FoldCodePoint(cp));
  }
  return out;
}

std::optional<int64_t> ParseReplyCode(std::string_view code) {
  if (code.empty() || code.size() > 12) return std::nullopt;
  uint64_t v = 0;
  for (char c : code) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
    size_t digit = kCodeAlphabet.find(c);
    if (digit == std::string_view::npos) return std::nullopt;
    v = v * 32 + digit;
  }
  if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return static_cast<int64_t>(v);
}

SmsAnswer ParseSmsAnswer(std::string_view text) {
  static const std::array<std::string_view, 4> kYes = {"kyllä", "kylla", "ja", "yes"};
  static const std::array<std::string_view, 3> kNo = {"ei", "nej", "no"};
  SmsAnswer out;
  std::vector<std::string> words = Words(text);
  // Only the first word answers: "ja" and "no" are also ordinary Finnish words ("and", "well"), so
  // "Mietin ja vastaan myöhemmin" must not accept and "No kyllä" must not decline. Those two count
  // only on their own or followed by the offer's code; anything longer gets a helpful answer.
  for (size_t i = 0; i < std::min<size_t>(words.size(), 1); ++i) {
    std::string w = FoldCase(words[i]);
    if ((w == "ja" || w == "no") && words.size() > 2) continue;
    if ((w == "ja" || w == "no") && words.size() == 2 && !ParseReplyCode(words[1])) continue;
    SmsAnswer::Kind kind = SmsAnswer::Kind::kUnrecognised;
    for (auto y : kYes) if (w == y) kind = SmsAnswer::Kind::kAccept;
    for (auto n : kNo) if (w == n) kind = SmsAnswer::Kind::kDecline;
    if (w == "stop") kind = SmsAnswer::Kind::kObjection;
    if (kind == SmsAnswer::Kind::kUnrecognised) continue;
    out.kind = kind;
    if (i + 1 < words.size()) {
      if (auto id = ParseReplyCode(words[i + 1])) {
        out.offer_id = id;
        out.code = words[i + 1];
        for (char& c : out.code) if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
      }
    }
    return out;
  }
  return out;
}

std::string NormalizePhone(std::string_view phone) {
  std::string digits;
  bool plus = false;
  for (char c : phone) {
    if (c >= '0' && c <= '9') digits += c;
    else if (c == '+' && digits.empty()) plus = true;
  }
  if (digits.empty()) return "";
  if (plus) return "+" + digits;
  if (digits.rfind("00", 0) == 0) return "+" + digits.substr(2);
  if (digits[0] == '0') return "+358" + digits.substr(1);
  return "+" + digits;
}

}  // namespace ennakko
