// How an SMS text will be encoded and into how many parts it splits.
//
// GSM 03.38 7-bit default alphabet: 160 septets in one SMS, 153 per part of a concatenated SMS;
// characters of the extension table (€ [ ] { } \ ~ ^ | and form feed) take two septets (escape +
// char) and are never split across parts. Any other character forces UCS-2: 70 UTF-16 code units
// in one SMS, 67 per part, a surrogate pair is never split. Finnish and Swedish letters ä ö å Ä Ö
// Å (and é, ü, ñ, ...) are in the GSM alphabet, so most Finnish texts stay 7-bit.
//
// Pure functions on UTF-8 input; thread-safe. Invalid UTF-8 is not GSM-7, and each invalid byte
// counts as one UCS-2 unit.
#pragma once

#include <string_view>

namespace ennakko {

// True when every character of `utf8` is in the GSM 03.38 default alphabet or its extension table.
bool IsGsm7(std::string_view utf8);

// The number of SMS parts the text needs: GSM-7 when IsGsm7(utf8), else UCS-2. An empty text is
// one (empty) SMS.
int SmsParts(std::string_view utf8);

}  // namespace ennakko
