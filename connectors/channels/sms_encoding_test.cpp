#include "connectors/channels/sms_encoding.h"

#include <string>

#include <catch2/catch.hpp>

namespace ennakko {
namespace {

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST_CASE("IsGsm7 knows the Nordic letters and the extension table") {
  struct Case {
    const char* text;
    bool gsm7;
  };
  const Case cases[] = {
      {"", true},
      {"Hei! Vastaa KYLLÄ tai EI.", true},
      {"ä ö å é Ä Ö Å É ü Ü ñ à ø Æ ß", true},
      {"Maksu 10 € / kk", true},           // € is an extension character
      {"[x] {y} ~z^ a|b \\", true},        // the rest of the extension table
      {"@£$¥ _ ¤ § ¿ ¡ ΔΦΓΛΩΠΨΣΘΞ\r\n", true},
      {"back`tick", false},                // ` is not in GSM 03.38
      {"Žiljak", false},                   // ž/Ž are not
      {"你好", false},
      {"emoji 🙂", false},
      {"õ", false},                        // Estonian õ is not either
      {"\xC3", false},                     // truncated UTF-8
      {"\xC0\xA0", false},                 // overlong encoding
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK(IsGsm7(c.text) == c.gsm7);
  }
}

TEST_CASE("SmsParts at the GSM-7 and UCS-2 boundaries") {
  struct Case {
    std::string text;
    int parts;
  };
  const Case cases[] = {
      {"", 1},
      {std::string(160, 'a'), 1},
      {std::string(161, 'a'), 2},
      {std::string(306, 'a'), 2},
      {std::string(307, 'a'), 3},
      {Repeat("ä", 160), 1},                        // 2 bytes in UTF-8, 1 septet
      {Repeat("ä", 161), 2},
      {Repeat("€", 80), 1},                         // 160 septets
      {Repeat("€", 80) + "a", 2},                   // 161 septets
      {std::string(152, 'a') + "€" + std::string(7, 'a'), 2},  // € not split: 152 | 2+7
      {std::string(152, 'a') + "€" + std::string(152, 'a'), 3},  // 152 | 154 -> 3 parts
      {Repeat("ž", 70), 1},
      {Repeat("ž", 71), 2},
      {Repeat("ž", 134), 2},
      {Repeat("ž", 135), 3},
      {"ž" + std::string(69, 'a'), 1},              // one non-GSM char makes it all UCS-2
      {"ž" + std::string(70, 'a'), 2},
      {Repeat("🙂", 35), 1},                         // surrogate pairs: 70 units
      {Repeat("🙂", 36), 2},
  };
  for (const auto& c : cases) {
    INFO(c.text.size() << " bytes");
    CHECK(SmsParts(c.text) == c.parts);
  }
}

}  // namespace
}  // namespace ennakko
