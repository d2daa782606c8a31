// A printable letter (PDF, A4) made from a rendered message, for paper mail through Suomi.fi
// (the paperMail part of POST /v2/messages needs exactly one PDF attachment).
//
// The letter: the sender (the city) and its address at the top left and the date at the top
// right; the recipient's address in the envelope window (only when `recipient_address` is set —
// with Suomi.fi's createAddressPage the address page is printed by Posti and the PDF holds no
// address at all); the title in bold; the body with its paragraphs and line breaks, wrapped to
// the page and continued on further pages; then a section saying how to reply or object, headed
// in the letter's language (fi, sv, en; other languages: fi). Every page is numbered "n (N)".
//
// Text: UTF-8 in, printed with the PDF standard fonts (Helvetica) in the CP1252 encoding, which
// holds every Finnish and Swedish letter (ä ö å Ä Ö Å, š ž, €, dashes and quotes). A character
// CP1252 lacks is printed as '?'; invalid UTF-8 bytes likewise. The standard fonts are not
// embedded: every PDF reader and print house has them.
//
// Pure and thread-safe: each call builds its own document; nothing is logged (a letter is
// personal data).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/base/status.h"
#include "engine/dispatch/channel.h"

namespace ennakko {

struct Letter {
  std::string language;                   // fi | sv | en: the labels' language
  std::string sender_name;                // "Helsingin kaupunki"
  std::vector<std::string> sender_lines;  // the sender's address, one line each
  std::string date;                       // as printed, e.g. "22.11.2026"
  std::optional<MailingAddress> recipient_address;  // printed in the window when set
  std::string title;
  std::string body;                // plain text; '\n' breaks a line, a blank line a paragraph
  std::string reply_instructions;  // how to reply or object; empty: the section is left out
};

// The letter as PDF bytes (starting "%PDF-"). Internal on a libharu failure (out of memory).
Result<std::string> RenderLetterPdf(const Letter& letter);

// UTF-8 text in CP1252 (the letter's encoding): unmappable characters and invalid bytes become
// '?', control characters other than '\n' and '\t' become spaces. Exposed for tests.
std::string Utf8ToCp1252(const std::string& text);

}  // namespace ennakko
