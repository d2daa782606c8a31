#include "connectors/channels/sms_encoding.h"

#include <cstdint>
#include <string_view>

namespace ennakko {
namespace {

constexpr int kGsmSingle = 160;
constexpr int kGsmPart = 153;
constexpr int kUcs2Single = 70;
constexpr int kUcs2Part = 67;

// The non-ASCII characters of the GSM 03.38 default alphabet (ASCII is handled in code).
constexpr std::u32string_view kGsmBasicNonAscii =
    U"£¥èéùìòÇØøÅåΔΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà";

// Septets the code point takes in GSM-7: 1 (default alphabet), 2 (extension table), 0 (none).
int GsmSeptets(char32_t c) {
  switch (c) {
    case U'\f': case U'^': case U'{': case U'}': case U'\\': case U'[': case U']': case U'~':
    case U'|': case U'€':
      return 2;
    case U'\n': case U'\r':
      return 1;
    case U'`':
      return 0;
    default:
      break;
  }
  if (c >= 0x20 && c < 0x7F) return 1;
  return kGsmBasicNonAscii.find(c) != std::u32string_view::npos ? 1 : 0;
}

// Decodes one UTF-8 sequence at `s[i]`, advancing i. Returns false (advancing one byte) when the
// sequence is invalid: truncated, overlong, a surrogate or beyond U+10FFFF.
bool NextCodePoint(std::string_view s, size_t& i, char32_t& out) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  int len;
  char32_t cp;
  if (b0 < 0x80) {
    out = b0;
    ++i;
    return true;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    ++i;
    return false;
  }
  if (i + len > s.size()) {
    ++i;
    return false;
  }
  for (int k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return false;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return false;
  }
  out = cp;
  i += len;
  return true;
}

// Parts needed for units of the given widths, never splitting one unit across two parts.
template <typename WidthOf>
int CountParts(std::string_view utf8, int single, int per_part, WidthOf width_of) {
  int total = 0;
  int parts = 1;
  int used = 0;  // units used in the current part when splitting
  for (size_t i = 0; i < utf8.size();) {
    char32_t c = 0;
    const bool valid = NextCodePoint(utf8, i, c);
    const int w = width_of(valid, c);
    total += w;
    if (used + w > per_part) {
      ++parts;
      used = 0;
    }
    used += w;
  }
  return total <= single ? 1 : parts;
}

}  // namespace

bool IsGsm7(std::string_view utf8) {
  for (size_t i = 0; i < utf8.size();) {
    char32_t c = 0;
    if (!NextCodePoint(utf8, i, c) || GsmSeptets(c) == 0) return false;
  }
  return true;
}

int SmsParts(std::string_view utf8) {
  if (IsGsm7(utf8)) {
    return CountParts(utf8, kGsmSingle, kGsmPart,
                      [](bool, char32_t c) { return GsmSeptets(c); });
  }
  return CountParts(utf8, kUcs2Single, kUcs2Part,
                    [](bool valid, char32_t c) { return valid && c > 0xFFFF ? 2 : 1; });
}

}  // namespace ennakko
