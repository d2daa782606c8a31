// The audit log's last line of defence against personal data: finds strings that look like a
// Finnish identity code, a phone number or an e-mail address.
//
// Residents must enter the audit log as pseudonyms (pseudonym.h); this guard catches the mistakes.
// It errs on the side of refusing: a code with a wrong check character or a formatted phone number
// ("+358 40 123 4567", "040-123 4567") still counts. What it looks for:
//   identity code  DDMMYY, a century sign [-+A-FU-Y], NNN, a check char [0-9A-FHJ-NPR-Y]
//                  (either case), not inside a longer run of letters or digits;
//   phone number   '+' and 8 or more digits; or, as a whole token, 00 and a country code and 7 or
//                  more digits, 358 and 6 or more digits, or 0, a non-zero digit and 7 to 9 more
//                  (a national number); single spaces or hyphens may separate digit groups;
//   e-mail         local@domain.tld with a letters-only top-level label of 2 or more.
// Token edges are letters and digits ('_' counts as an edge, unlike regex \b, so "id_010594Y9032"
// is still caught). Hex hashes and pseudonyms ("p-" + 24 hex) do not match.
// Numbers are not inspected, only strings: counts and byte sizes are numbers.
//
// Hand-written scanning rather than std::regex: one pass per string, no allocation; std::regex
// was over 200 times slower on typical fields (personal_data_guard_test.cpp, "[.benchmark]").
// Stateless and thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "engine/base/status.h"

namespace ennakko {

enum class PersonalDataKind { kIdentityCode, kPhoneNumber, kEmailAddress };

const char* PersonalDataKindName(PersonalDataKind kind);  // "an identity code", ...

// The first kind of personal data that `text` appears to contain, if any.
std::optional<PersonalDataKind> FindPersonalData(std::string_view text);

// OK, or InvalidArgument naming where (e.g. "fields.contact[1]") and what kind of personal data a
// string in `value` appears to hold, anywhere in nested objects and arrays, keys included. The
// message never repeats the offending text.
Status CheckNoPersonalData(const nlohmann::json& value, std::string_view where);

}  // namespace ennakko
