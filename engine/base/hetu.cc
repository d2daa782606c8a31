#include "engine/base/hetu.h"

#include <fmt/format.h>

namespace ennakko {

namespace {
constexpr std::string_view kCheckChars = "0123456789ABCDEFHJKLMNPRSTUVWXY";

int CenturyOf(char sign) {
  switch (sign) {
    case '+': return 1800;
    case '-': case 'Y': case 'X': case 'W': case 'V': case 'U': return 1900;
    case 'A': case 'B': case 'C': case 'D': case 'E': case 'F': return 2000;
    default: return -1;
  }
}
}  // namespace

char HetuCheckChar(Date birth, int n) {
  long number = static_cast<long>(birth.day()) * 10000000L + birth.month() * 100000L +
                (birth.year() % 100) * 1000L + n;
  return kCheckChars[static_cast<size_t>(number % 31)];
}

Result<Hetu> ParseHetu(std::string_view t) {
  if (t.size() != 11) return Status::Invalid("identity code must have 11 characters");
  for (size_t i : {0, 1, 2, 3, 4, 5, 7, 8, 9}) {
    if (t[i] < '0' || t[i] > '9') return Status::Invalid("identity code has a non-digit where a digit belongs");
  }
  int century = CenturyOf(t[6]);
  if (century < 0) return Status::Invalid("identity code has an unknown century sign");
  int dd = (t[0] - '0') * 10 + (t[1] - '0');
  int mm = (t[2] - '0') * 10 + (t[3] - '0');
  int yy = (t[4] - '0') * 10 + (t[5] - '0');
  int n = (t[7] - '0') * 100 + (t[8] - '0') * 10 + (t[9] - '0');
  auto date = Date::Parse(fmt::format("{:04d}-{:02d}-{:02d}", century + yy, mm, dd));
  if (!date) return Status::Invalid("identity code has an impossible birth date");
  if (n < 2) return Status::Invalid("identity code has an individual number below 002");
  if (HetuCheckChar(*date, n) != t[10]) return Status::Invalid("identity code check character does not match");
  return Hetu{std::string(t), *date, n};
}

std::string MakeHetu(Date birth, int n, int modern_sign) {
  char sign;
  int y = birth.year();
  if (y < 1900) {
    sign = '+';
  } else if (y < 2000) {
    static constexpr char k1900[] = {'-', 'Y', 'X', 'W', 'V', 'U'};
    sign = k1900[modern_sign % 6];
  } else {
    static constexpr char k2000[] = {'A', 'B', 'C', 'D', 'E', 'F'};
    sign = k2000[modern_sign % 6];
  }
  return fmt::format("{:02d}{:02d}{:02d}{}{:03d}{}", birth.day(), birth.month(), y % 100, sign, n,
                     HetuCheckChar(birth, n));
}

}  // namespace ennakko
