// Pseudonymizer: the only way a resident appears in the audit log.
//
// Of(code) is "p-" followed by the first 24 hex characters (96 bits) of HMAC-SHA-256(key, code).
// The same key and code always give the same pseudonym, so one resident's events can be followed
// through the log; without the key a pseudonym cannot be turned back into a code, nor can a guessed
// code be confirmed (the code space is small enough to enumerate, which is why this is a keyed
// HMAC and not a plain hash). The code is hashed as given: the century sign is part of the
// identity (010594Y9032 and 010594-9032 are different people), so callers pass the canonical
// upper-case form (ParseHetu's Hetu::code) to get one pseudonym per person.
//
// Invariant: the key never changes after construction. Thread-safe: Of() is const and keeps no
// state between calls.
#pragma once

#include <string>
#include <string_view>

namespace ennakko {

class Pseudonymizer {
 public:
  // REQUIRES: key is a secret of at least 32 random bytes, kept out of the audit log and the repo.
  explicit Pseudonymizer(std::string key);

  std::string Of(std::string_view identity_code) const;

 private:
  const std::string key_;
};

}  // namespace ennakko
