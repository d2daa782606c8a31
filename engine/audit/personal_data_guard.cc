#include "engine/audit/personal_data_guard.h"

#include <string>

namespace ennakko {

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAlnum(char c) { return IsDigit(c) || IsAlpha(c); }
char Upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

// True when text[i] starts a token: nothing before it, or a non-alphanumeric character.
bool TokenStartsAt(std::string_view text, size_t i) { return i == 0 || !IsAlnum(text[i - 1]); }
bool TokenEndsAt(std::string_view text, size_t i) { return i >= text.size() || !IsAlnum(text[i]); }

bool IsCenturySign(char c) {
  c = Upper(c);
  return c == '-' || c == '+' || (c >= 'A' && c <= 'F') || (c >= 'U' && c <= 'Y');
}

// [0-9A-FHJ-NPR-Y]: the check alphabet "0123456789ABCDEFHJKLMNPRSTUVWXY".
bool IsCheckChar(char c) {
  c = Upper(c);
  if (IsDigit(c)) return true;
  if (c < 'A' || c > 'Y') return false;
  return c != 'G' && c != 'I' && c != 'O' && c != 'Q';
}

bool IdentityCodeAt(std::string_view t, size_t i) {
  if (i + 11 > t.size() || !TokenStartsAt(t, i)) return false;
  for (size_t k = 0; k < 6; ++k)
    if (!IsDigit(t[i + k])) return false;
  if (!IsCenturySign(t[i + 6])) return false;
  for (size_t k = 7; k < 10; ++k)
    if (!IsDigit(t[i + k])) return false;
  return IsCheckChar(t[i + 10]) && TokenEndsAt(t, i + 11);
}

// Collects the digits of a number starting at t[i] that may be split by single spaces or hyphens
// ("040-123 4567"). Returns the digit count; *first3 receives up to the first three digits and
// *end the index just past the last digit.
size_t ReadDigitGroups(std::string_view t, size_t i, char first3[3], size_t* end) {
  size_t n = 0;
  size_t j = i;
  while (j < t.size()) {
    if (IsDigit(t[j])) {
      if (n < 3) first3[n] = t[j];
      ++n;
      ++j;
    } else if ((t[j] == ' ' || t[j] == '-') && j + 1 < t.size() && IsDigit(t[j + 1]) && n > 0) {
      ++j;
    } else {
      break;
    }
  }
  *end = j;
  return n;
}

bool PhoneNumberAt(std::string_view t, size_t i) {
  char d[3] = {0, 0, 0};
  size_t end = 0;
  if (t[i] == '+') {
    if (i + 1 >= t.size() || !IsDigit(t[i + 1])) return false;
    return ReadDigitGroups(t, i + 1, d, &end) >= 8;
  }
  if (!IsDigit(t[i]) || !TokenStartsAt(t, i)) return false;
  size_t n = ReadDigitGroups(t, i, d, &end);
  if (!TokenEndsAt(t, end)) return false;
  if (d[0] == '0' && d[1] == '0') return d[2] != '0' && n >= 10;  // 00 + country code
  if (d[0] == '3' && d[1] == '5' && d[2] == '8') return n >= 9;
  if (d[0] == '0') return d[1] != '0' && n >= 9 && n <= 11;
  return false;
}

bool IsEmailLocalChar(char c) {
  return IsAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}
bool IsDomainChar(char c) { return IsAlnum(c) || c == '-' || c == '.'; }

bool EmailAt(std::string_view t, size_t at) {
  if (at == 0 || !IsEmailLocalChar(t[at - 1])) return false;
  size_t j = at + 1;
  while (j < t.size() && IsDomainChar(t[j])) ++j;
  std::string_view domain = t.substr(at + 1, j - at - 1);
  while (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);  // "a@b.fi."
  size_t dot = domain.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  std::string_view tld = domain.substr(dot + 1);
  if (tld.size() < 2) return false;
  for (char c : tld)
    if (!IsAlpha(c)) return false;
  return true;
}

Status Refuse(const std::string& where, PersonalDataKind kind) {
  return Status::Invalid(where + " looks like " + PersonalDataKindName(kind) +
                         "; residents go into the audit log only as pseudonyms");
}

}  // namespace

const char* PersonalDataKindName(PersonalDataKind kind) {
  switch (kind) {
    case PersonalDataKind::kIdentityCode:
      return "an identity code";
    case PersonalDataKind::kPhoneNumber:
      return "a phone number";
    case PersonalDataKind::kEmailAddress:
      return "an e-mail address";
  }
  return "personal data";
}

std::optional<PersonalDataKind> FindPersonalData(std::string_view text) {
  std::optional<PersonalDataKind> phone;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (IsDigit(c)) {
      // An identity code wins over a phone number: "010594-9032" is both shapes.
      if (IdentityCodeAt(text, i)) return PersonalDataKind::kIdentityCode;
      if (!phone && PhoneNumberAt(text, i)) phone = PersonalDataKind::kPhoneNumber;
    } else if (c == '+') {
      if (!phone && PhoneNumberAt(text, i)) phone = PersonalDataKind::kPhoneNumber;
    } else if (c == '@') {
      if (EmailAt(text, i)) return PersonalDataKind::kEmailAddress;
    }
  }
  return phone;
}

namespace {

Status CheckValue(const nlohmann::json& value, std::string& where) {
  if (value.is_string()) {
    if (auto kind = FindPersonalData(value.get_ref<const std::string&>())) {
      return Refuse(where, *kind);
    }
    return Status::Ok();
  }
  const size_t base = where.size();
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (FindPersonalData(it.key())) {
        // Do not name the key: it is the personal data.
        return Refuse("a key in " + where, *FindPersonalData(it.key()));
      }
      where.append(".").append(it.key());
      Status st = CheckValue(it.value(), where);
      where.resize(base);
      if (!st.ok()) return st;
    }
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      where.append("[").append(std::to_string(i)).append("]");
      Status st = CheckValue(value[i], where);
      where.resize(base);
      if (!st.ok()) return st;
    }
  }
  return Status::Ok();
}

}  // namespace

Status CheckNoPersonalData(const nlohmann::json& value, std::string_view where) {
  std::string path(where);
  return CheckValue(value, path);
}

}  // namespace ennakko
