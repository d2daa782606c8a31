// Finnish personal identity codes (henkilötunnus): DDMMYYCNNNQ.
//
// Parsing checks the century sign (+, - Y X W V U, A B C D E F), the date, the individual number
// and the check character (DDMMYYNNN mod 31 into "0123456789ABCDEFHJKLMNPRSTUVWXY"). The century
// sign is not part of the checksum, but it is part of the identity: 010594Y9032 and 010594-9032 are
// different people, so codes are compared as whole strings. Never log a Hetu: use a pseudonym
// (engine/audit/pseudonym.h).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "engine/base/date.h"
#include "engine/base/status.h"

namespace ennakko {

struct Hetu {
  std::string code;       // the 11 characters as given (upper case)
  Date birth_date;
  int individual_number;  // 2..999; 900-999 are temporary/test numbers
  bool female() const { return individual_number % 2 == 0; }
  bool synthetic() const { return individual_number >= 900; }
};

// Validates `text` and returns its parts, or InvalidArgument saying what is wrong (the message does
// not repeat the code itself).
Result<Hetu> ParseHetu(std::string_view text);

// The check character for a birth date and individual number.
char HetuCheckChar(Date birth, int individual_number);

// Builds a valid code; the century sign is '-'/'A'/'+' unless `modern_sign` picks one of the 2023
// additional signs (Y..U for 1900s, B..F for 2000s). REQUIRES: 1800 <= year < 2100, 2 <= n <= 999.
std::string MakeHetu(Date birth, int individual_number, int modern_sign = 0);

}  // namespace ennakko
