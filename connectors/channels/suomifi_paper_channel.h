// The "paper" channel: a Suomi.fi Messages multichannel message (POST /v2/messages), which Suomi.fi
// delivers electronically when the recipient has an active mailbox and otherwise prints and posts
// as a letter through Posti. See ../shared/reference/suomifi-messages-openapi.yaml.
//
// Send, for a recipient who can get paper (PaperBlocked in engine/dispatch/channel.h is empty):
//   1. the letter: a PDF made from the rendered message (RenderLetterPdf: the city as sender,
//      title, body, and how to reply or object in the message's language);
//   2. POST /v2/attachments, multipart/form-data with one part "file" (application/pdf, at most
//      10 MiB) -> 201 {attachmentId};
//   3. POST /v2/messages {externalId, recipient.id, sender.serviceId, electronic (as the suomifi
//      channel sends it), paperMail{attachments: [that one PDF], recipient.address (supplied by
//      us: Suomi.fi has no address lookup), sender.address, printing options, Posti account}}.
// Outcomes as for the suomifi channel: 200 or 409 (externalId used before) -> Sent(messageId);
// 5xx, 429, a timeout or refused connection, auth trouble -> Transient; any other 4xx ->
// Permanent with Suomi.fi's reason and error codes (413/415 on the upload too).
//
// A protected address (turvakielto) never gets paper: CannotReach and Send both answer
// "address protected" (Permanent, before any call), and delivers_paper() is true so that channel
// choice skips this channel for such a recipient. A missing or incomplete address likewise.
//
// Retries: the attachment id of a successful upload is kept (in memory, per idempotency key, for
// options.attachment_reuse) and reused when the same message is retried, so a transient failure
// of step 3 does not upload the letter again. After a restart the cache is empty and the letter is
// uploaded once more; that is harmless: Suomi.fi deletes an attachment no message used within 24
// hours, and the externalId still makes the message itself at-most-once.
//
// Thread-safe: the attachment cache is behind a mutex; the token is SuomiFiChannel's.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "connectors/channels/suomifi_channel.h"
#include "engine/base/status.h"
#include "engine/dispatch/channel.h"

namespace ennakko {

struct SuomiFiPaperOptions {
  // The sender: printed at the top of the letter and sent as paperMail.sender.address (returned
  // letters go there). name is the city, e.g. "Helsingin kaupunki".
  MailingAddress sender;
  // Posti's printing and enveloping account (paperMail.printingAndEnvelopingService.postiMessaging):
  // a 6-character username, a 4-character password, and a contact email (5..256 characters).
  std::string posti_username, posti_password, contact_email;
  // Posti cost pool ([A-Z0-9], 1..15 characters); empty: not sent.
  std::string cost_pool;
  bool color_printing = false;
  bool two_sided_printing = false;
  // true: Posti prints an address page, and the PDF carries no address at all. false: the
  // recipient's address is printed in the envelope window of the letter's first page.
  bool create_address_page = true;
  // How to reply or object, by language (fi, sv, en; fallback fi), printed at the end of every
  // letter, e.g. "Soita 09 310 12345 tai kirjoita ...". Empty: the section is left out.
  std::map<std::string, std::string> reply_instructions;
  // How long an uploaded letter is reused for retries of the same message (Suomi.fi removes an
  // attachment no message used within 24 hours).
  std::chrono::minutes attachment_reuse{20 * 60};
  // Today, for the letter's date; tests may pin it.
  std::function<std::chrono::system_clock::time_point()> now = [] {
    return std::chrono::system_clock::now();
  };
};

class SuomiFiPaperChannel : public Channel {
 public:
  // `api` gives the base URL, service id and the shared token; it must outlive this channel.
  SuomiFiPaperChannel(SuomiFiChannel& api, SuomiFiPaperOptions options);

  // Checks options worth failing a config load for: sender address fields missing or too long,
  // a country code that is not two capital letters, the Posti account's lengths, the contact
  // email, the cost pool's pattern.
  static Status ValidateOptions(const SuomiFiPaperOptions& options);

  std::string_view name() const override { return "paper"; }
  bool idempotent() const override { return true; }  // externalId: a reuse answers 409
  bool delivers_paper() const override { return true; }
  // PaperBlocked(recipient) ("address protected", "no postal address", ...), or "no identity
  // code" (Suomi.fi needs recipient.id even for paper).
  std::string CannotReach(const Recipient& recipient) const override;
  SendOutcome Send(const OutgoingMessage& message) override;

  // Uploads made so far (successful ones), for tests and metrics.
  int uploads() const;

 private:
  // The attachment id for `message`: the cached one, or a fresh upload. On failure, the outcome
  // to return.
  Result<std::string> Attachment(const OutgoingMessage& message, SendOutcome* failure);
  std::string MultichannelBody(const OutgoingMessage& message,
                               const std::string& attachment_id) const;

  // Constant after construction.
  SuomiFiChannel& api_;
  const SuomiFiPaperOptions options_;

  mutable std::mutex mu_;
  // Protected by mu_: idempotency key -> (attachment id, uploaded at).
  std::map<std::string, std::pair<std::string, std::chrono::steady_clock::time_point>> uploaded_;
  int uploads_ = 0;
};

// The multipart/form-data body of an attachment upload: one part named "file" with `filename`
// and `content_type`, delimited by `boundary` (which must not occur in `content`).
std::string MultipartFile(const std::string& boundary, const std::string& filename,
                          const std::string& content_type, const std::string& content);

}  // namespace ennakko
