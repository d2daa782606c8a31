// Reading a resident's SMS answer to an offer: "KYLLÄ", "kylla K7Q", "Nej.", "yes k7q", "STOP".
//
// Words, in any case (Unicode simple case folding for the Latin letters a Finnish, Swedish or
// English speaker types: A–Z, À–Þ, Latin Extended-A), with surrounding punctuation ignored:
//   accept  KYLLÄ, KYLLA, JA, YES        decline  EI, NEJ, NO        objection  STOP
// The first such word is the answer; the word right after it, when it is a reply code
// (dispatcher.h ReplyCode: letters and digits of "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"), names the
// offer. A code alone or any other text is kUnrecognised. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ennakko {

struct SmsAnswer {
  enum class Kind { kAccept, kDecline, kObjection, kUnrecognised };
  Kind kind = Kind::kUnrecognised;
  std::optional<int64_t> offer_id;  // from the reply code, when one follows the answer
  std::string code;                 // the code as typed (upper case), for messages
};

SmsAnswer ParseSmsAnswer(std::string_view text);

// Lower-cases UTF-8 text by simple case folding of Latin letters (ASCII, Latin-1, Latin
// Extended-A); other characters pass through. Invalid UTF-8 bytes pass through unchanged.
std::string FoldCase(std::string_view text);

// The outbox id a reply code stands for (the inverse of ReplyCode), case-insensitive; nullopt for
// anything that is not a code (other letters, empty, longer than 12 characters).
std::optional<int64_t> ParseReplyCode(std::string_view code);

// A phone number as Kannel reports it ("+358401234567", "358401234567", "00358...", "0401234567")
// in the E.164 form the store keeps ("+358401234567"); empty when it holds no digits. Finnish
// national numbers (a leading 0) get +358.
std::string NormalizePhone(std::string_view phone);

}  // namespace ennakko
