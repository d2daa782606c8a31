// A delivery channel that sends email through any SMTP server (RFC 5321), with libcurl.
//
// Send builds one RFC 5322 message (BuildEmail) and hands it to the server in one SMTP session:
// STARTTLS required by default (or implicit TLS with smtps://), optional AUTH, MAIL FROM the
// address in `from`, RCPT TO the recipient's email, DATA. The message is multipart/alternative:
// text/plain and text/html, both UTF-8 in quoted-printable. The HTML part is the message's
// html_body when the service has an HTML template; otherwise (the default: one plain template
// per language is all a rule author writes) a minimal rendering of the plain body — escaped,
// paragraphs from blank lines, no remote content — so both parts always say the same. Headers: From, To, Subject (RFC 2047 when not
// ASCII), Date, Message-ID `<KEY@ennakko>` from the idempotency key (so a receiving system can
// de-duplicate), MIME-Version, Auto-Submitted: auto-generated, Content-Language.
//
// Outcomes: the server accepted the DATA -> Sent(Message-ID). A refused connection, a timeout, a
// TLS failure and any SMTP 4xx -> Transient; an SMTP 5xx (550 mailbox unavailable, 535 bad
// credentials, 552 too big) -> Permanent with the reply code (and enhanced status code, when the
// server gives one) as detail. Details and logs never hold the address, the subject or the body:
// servers' reply texts often repeat the address, so only the codes are kept.
//
// SMTP has no idempotency key, so idempotent() is false: a timeout after DATA may have delivered.
//
// Thread-safe: Send keeps no state between calls (one CURL easy handle per send); libcurl's global
// initialisation runs once, on first construction.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "engine/base/status.h"
#include "engine/dispatch/channel.h"

namespace ennakko {

struct EmailOptions {
  // The server: smtp://host:port (STARTTLS, see require_starttls) or smtps://host:port (implicit
  // TLS). A path is taken as the EHLO name (libcurl's convention), e.g. smtp://mx:25/ennakko.fi.
  std::string smtp_url;
  // Refuse to send unless the session is encrypted (libcurl's CURLUSESSL_ALL). false is allowed
  // only for a loopback host (tests, a local relay); ValidateOptions rejects it elsewhere.
  bool require_starttls = true;
  // Optional AUTH credentials; empty username: no AUTH.
  std::string username, password;
  // The From header, "Display Name <addr@example.fi>" or a bare address; its address is also
  // the envelope sender (MAIL FROM).
  std::string from;
  // The bound on one whole SMTP session (connect, TLS, AUTH, envelope, DATA).
  std::chrono::milliseconds timeout{10000};
  // A PEM file of CA certificates to verify the server with; empty: the system's store.
  std::string ca_file;
};

class EmailChannel : public Channel {
 public:
  explicit EmailChannel(EmailOptions options);

  // Checks options worth failing a config load for: smtp_url not smtp:// or smtps:// or without
  // a host, plain SMTP to a non-loopback host, a `from` without an address, a non-positive timeout.
  static Status ValidateOptions(const EmailOptions& options);

  std::string_view name() const override { return "email"; }
  bool idempotent() const override { return false; }
  bool marks_handover() const override { return true; }  // see channel.h
  // "no email address" when missing; "email address is malformed" when it could not be used in
  // an SMTP envelope or a header (no '@', whitespace, control characters, angle brackets).
  std::string CannotReach(const Recipient& recipient) const override;
  SendOutcome Send(const OutgoingMessage& message) override;

 private:
  EmailOptions options_;
};

// Pure building blocks, exposed for tests.

// A header value as RFC 2047 encoded-words (=?UTF-8?B?...?=, folded with CRLF SP, each word at
// most 75 characters, never splitting a UTF-8 sequence), or unchanged when it is printable ASCII
// without "=?". CR and LF are replaced by spaces first (no header injection).
std::string EncodeHeaderText(std::string_view text);

// Quoted-printable (RFC 2045) of UTF-8 text: lines end in CRLF (LF and CRLF input alike), lines
// are at most 76 characters with soft breaks, '=' and non-ASCII bytes are escaped, and so is
// whitespace before a line break and a '.' or "From " starting a line.
std::string QuotedPrintable(std::string_view text);

// A minimal HTML document for a plain-text body: escaped, one <p> per blank-line-separated
// paragraph, <br> for single line breaks, the title (escaped) as <title>, no remote content.
std::string HtmlFromText(std::string_view title, std::string_view body, std::string_view language);

// `<KEY@ennakko>`; characters outside RFC 5322 atext are written as =XX so that distinct keys
// give distinct ids.
std::string MessageIdFor(std::string_view idempotency_key);

// The address inside "Name <addr>", or the whole string trimmed when there are no brackets.
std::string AddressOf(std::string_view mailbox);

// An RFC 5322 date in UTC, e.g. "Tue, 05 Aug 2025 09:30:00 +0000".
std::string Rfc5322Date(std::chrono::system_clock::time_point when);

// The whole message, CRLF line endings, ready for SMTP DATA (libcurl does the dot-stuffing).
// `date` is the Date header's value. REQUIRES: message.recipient.email is set.
std::string BuildEmail(const OutgoingMessage& message, const EmailOptions& options,
                       std::string_view date);

// The outcome for a finished session: curl's result code (CURLcode), the last SMTP reply code
// (0 when the server never answered), the enhanced status code of that reply ("5.1.1", may be
// empty), and curl's error text, used only when the server never answered (it names the host,
// not the recipient). Never the server's reply text: it often repeats the address.
SendOutcome ClassifySmtpResult(int curl_code, long smtp_code, std::string_view enhanced_code,
                               std::string_view curl_error = {});

}  // namespace ennakko
