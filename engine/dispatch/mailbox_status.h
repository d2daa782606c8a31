// The Suomi.fi mailbox status of recipients: who has an active Suomi.fi Messages mailbox.
//
// The dispatcher may choose the suomifi channel for a recipient only when the recipient has an
// active mailbox. Asking Suomi.fi (POST /v1/mailboxes/active, at most 10,000 ids a call) for every
// offer would be slow and is not needed: answers are cached in the store (mailbox_status, keyed by
// resident) with the time of the check, and only recipients whose status is unknown or older than
// `max_age` are asked again, in one batched call for the offers about to be sent.
//
// A failed check leaves the status unknown; the dispatcher then holds the offer (it retries later)
// instead of silently skipping Suomi.fi. Identity codes go to the check function and the store,
// never to a log or an error message.
// Not thread-safe: use from the thread that owns the Db.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "engine/base/date.h"
#include "engine/base/status.h"
#include "engine/store/sqlite.h"

namespace ennakko {

// The subset of `ids` (identity codes) with an active mailbox. Called with at most
// MailboxStatusOptions::batch ids. SuomiFiChannel::ActiveMailboxes fits.
using MailboxCheckFn = std::function<Result<std::vector<std::string>>(const std::vector<std::string>& ids)>;

struct MailboxStatusOptions {
  std::chrono::seconds max_age{std::chrono::hours(24)};  // an older answer is asked again
  size_t batch = 10000;  // ids per call (the API's limit is 10,000)
};

struct MailboxRefresh {
  int asked = 0;   // recipients whose status was unknown or stale and were asked about
  int active = 0;  // of them, with an active mailbox
  int calls = 0;   // calls made
};

class MailboxStatusCache {
 public:
  MailboxStatusCache(Db& db, const Clock& clock, MailboxCheckFn check, MailboxStatusOptions options = {});

  // Asks about those of `codes` (identity codes of residents in the store) whose status is
  // unknown or stale, and stores the answers (one transaction per call). Codes not in the store
  // are ignored. On a failed call the answers of earlier calls are kept and the error returned.
  Result<MailboxRefresh> Refresh(const std::vector<std::string>& codes);

  // The fresh status of a recipient: true (active) / false (no active mailbox), or nullopt when
  // unknown or stale.
  Result<std::optional<bool>> Active(const std::string& code);

  // Records that a recipient has no active mailbox (Suomi.fi refused a message with
  // MAILBOX_NOT_IN_USE), so the next offer does not try it before the status is stale.
  Status MarkInactive(const std::string& code);

 private:
  Status Store(const std::vector<std::pair<int64_t, bool>>& answers);
  std::string StaleBefore() const;

  Db& db_;
  const Clock& clock_;
  MailboxCheckFn check_;
  const MailboxStatusOptions options_;
};

}  // namespace ennakko
