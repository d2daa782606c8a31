// `ennakko rules check`: the SMS size of each rule's messages.
//
// For every rule (rule.yaml under the given paths) whose channels include sms, each language's
// body is rendered as the dispatcher renders it (RenderMessage) with sample values of typical
// length (a 10-letter first name, a 4-character reply code, a 4-digit period) and its encoding
// (GSM-7 or UCS-2) and SMS part count are reported; more than 3 parts is a warning at the body's
// file:line:col (Kannel's max-messages is 3 by default, and long texts cost more and read worse).
// Structural problems (missing sections, unknown placeholders) are the loader's errors; this only
// reads files that loaded. Not thread-safe (one call at a time per Diagnostics).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "engine/lang/diagnostics.h"

namespace ennakko {

constexpr int kSmsPartsWarning = 3;

// Writes one line per rule and language ("<messages file>: fi: GSM-7, 2 SMS parts (245 characters
// with sample values)") and adds a warning for each body over kSmsPartsWarning parts.
void ReportSmsSizes(const std::vector<std::string>& paths, std::ostream& out, Diagnostics& diags);

}  // namespace ennakko
