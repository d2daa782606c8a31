#include "connectors/channels/email_channel.h"

#include <curl/curl.h>

#include <algorithm>
#include <functional>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/url/parse.hpp>
#include <spdlog/spdlog.h>

namespace ennakko {
namespace {

// QP never writes "=_" ('=' is always followed by two hex digits or a line break), so no encoded
// part can contain this boundary line.
constexpr std::string_view kBoundary = "=_ennakko_alternative";

bool IsPrintableAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

std::string NoLineBreaks(std::string_view s) {
  std::string out(s);
  std::replace(out.begin(), out.end(), '\r', ' ');
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t n = uint8_t(in[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

bool IsAtext(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/?^_`{|}~").find(c) != std::string_view::npos;
}

// The display name for a From header: as is when it is atoms and spaces, a quoted-string when it
// has other ASCII specials, encoded-words when it is not ASCII.
std::string DisplayName(std::string_view name) {
  std::string clean = NoLineBreaks(name);
  if (!IsPrintableAscii(clean) || clean.find("=?") != std::string::npos) {
    return EncodeHeaderText(clean);
  }
  if (std::all_of(clean.begin(), clean.end(), [](char c) { return IsAtext(c) || c == ' '; })) {
    return clean;
  }
  std::string quoted = "\"";
  for (char c : clean) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

std::string FromHeader(std::string_view from) {
  std::string address = AddressOf(from);
  size_t lt = from.find('<');
  std::string_view name = lt == std::string_view::npos ? std::string_view() : from.substr(0, lt);
  while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
  while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"') {
    name = name.substr(1, name.size() - 2);
  }
  if (name.empty()) return address;
  return DisplayName(name) + " <" + address + ">";
}

// Usable in an SMTP envelope and a header as is: one '@' with text on both sides, printable ASCII,
// no whitespace, brackets or other specials that would need quoting.
bool IsUsableAddress(std::string_view a) {
  size_t at = a.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == a.size() || a.size() > 254) return false;
  for (char c : a) {
    if (c <= 0x20 || c >= 0x7f) return false;
    if (std::string_view("<>()[]\\,;:\"").find(c) != std::string_view::npos) return false;
  }
  return true;
}

std::string_view LanguageTag(std::string_view language) {
  if (language == "fi" || language == "sv" || language == "en") return language;
  return "fi";
}

bool IsLoopbackHost(std::string_view host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.starts_with("127.");
}

// State for one session's libcurl callbacks.
struct Session {
  std::string payload;
  size_t offset = 0;
  std::vector<std::string> replies;  // the server's reply lines, in order; never logged
  std::function<bool()> handover;    // OutgoingMessage::handover
  bool handed_over = false;          // the end of DATA may have been sent
};

size_t ReadPayload(char* buffer, size_t size, size_t nitems, void* userdata) {
  auto* s = static_cast<Session*>(userdata);
  const size_t remaining = s->payload.size() - s->offset;
  size_t n = std::min(size * nitems, remaining);
  if (!s->handed_over && remaining > 0) {
    if (remaining == 1) {
      // The last byte: libcurl sends it and then the terminating ".", with which the server may
      // accept the message. This is the hand-over point (channel.h).
      if (s->handover && !s->handover()) return CURL_READFUNC_ABORT;
      s->handed_over = true;
    } else if (n == remaining) {
      --n;  // hold the last byte back until the hand-over is recorded
    }
  }
  std::copy_n(s->payload.data() + s->offset, n, buffer);
  s->offset += n;
  return n;
}

int CollectReplies(CURL*, curl_infotype type, char* data, size_t size, void* userdata) {
  if (type != CURLINFO_HEADER_IN) return 0;
  auto* s = static_cast<Session*>(userdata);
  std::string_view chunk(data, size);
  while (!chunk.empty()) {
    size_t nl = chunk.find('\n');
    std::string_view line = chunk.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) s->replies.emplace_back(line);
    if (nl == std::string_view::npos) break;
    chunk.remove_prefix(nl + 1);
  }
  return 0;
}

// The enhanced status code ("5.1.1", RFC 3463) of the last final reply line with `code`.
std::string EnhancedCode(const std::vector<std::string>& replies, long code) {
  std::string prefix = std::to_string(code) + " ";
  for (auto it = replies.rbegin(); it != replies.rend(); ++it) {
    if (!it->starts_with(prefix)) continue;
    std::string_view rest = std::string_view(*it).substr(prefix.size());
    std::string_view word = rest.substr(0, rest.find(' '));
    bool shaped = word.size() >= 5 && word.size() <= 11 && (word[0] >= '2' && word[0] <= '5') &&
                  word[1] == '.' &&
                  std::all_of(word.begin(), word.end(),
                              [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
    return shaped ? std::string(word) : std::string();
  }
  return {};
}

void InitCurlOnce() {
  // curl_global_init is not thread-safe; a function-local static runs it exactly once.
  static const CURLcode init = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)init;
}

struct CurlCleanup {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

std::string EncodeHeaderText(std::string_view text) {
  std::string clean = NoLineBreaks(text);
  if (IsPrintableAscii(clean) && clean.find("=?") == std::string::npos && clean.size() <= 900) {
    return clean;
  }
  // 75 - len("=?UTF-8?B?" "?=") = 63 base64 characters: at most 45 bytes per word.
  constexpr size_t kMaxBytes = 45;
  std::string out;
  size_t i = 0;
  while (i < clean.size()) {
    size_t end = std::min(i + kMaxBytes, clean.size());
    // Back off to a character boundary: never start the next word on a continuation byte.
    while (end < clean.size() && end > i + 1 && (uint8_t(clean[end]) & 0xC0) == 0x80) --end;
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + Base64(std::string_view(clean).substr(i, end - i)) + "?=";
    i = end;
  }
  return out;
}

std::string QuotedPrintable(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  size_t col = 0;
  auto emit = [&](std::string_view piece) {
    if (col + piece.size() > 75) {  // 75 + the soft break's '=' = 76
      out += "=\r\n";
      col = 0;
    }
    out += piece;
    col += piece.size();
  };
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    for (size_t i = 0; i < line.size(); ++i) {
      auto c = uint8_t(line[i]);
      bool at_start = i == 0;
      bool before_break = i + 1 == line.size();
      bool escape = c == '=' || c >= 0x7f || (c < 0x20 && c != '\t') ||
                    ((c == ' ' || c == '\t') && before_break) ||
                    (at_start && (c == '.' || (c == 'F' && line.starts_with("From "))));
      if (escape) {
        char enc[3] = {'=', kHex[c >> 4], kHex[c & 15]};
        emit(std::string_view(enc, 3));
      } else {
        emit(std::string_view(&line[i], 1));
      }
    }
    if (nl == std::string_view::npos) break;
    out += "\r\n";
    col = 0;
    pos = nl + 1;
  }
  return out;
}

std::string HtmlFromText(std::string_view title, std::string_view body, std::string_view language) {
  auto escape = [](std::string_view s) {
    std::string out;
    for (char c : s) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        case '\r': break;
        default: out += c;
      }
    }
    return out;
  };
  // Split on lines; a blank (or whitespace-only) line closes a paragraph.
  std::vector<std::vector<std::string_view>> paragraphs(1);
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t nl = body.find('\n', pos);
    std::string_view line =
        body.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    bool blank = line.find_first_not_of(" \t\r") == std::string_view::npos;
    if (blank) {
      if (!paragraphs.back().empty()) paragraphs.emplace_back();
    } else {
      paragraphs.back().push_back(line);
    }
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  std::string html = "<!DOCTYPE html>\n<html lang=\"" + std::string(LanguageTag(language)) +
                     "\">\n<head>\n<meta charset=\"UTF-8\">\n<title>" +
                     escape(NoLineBreaks(title)) + "</title>\n</head>\n<body>\n";
  for (const auto& p : paragraphs) {
    if (p.empty()) continue;
    html += "<p>";
    for (size_t i = 0; i < p.size(); ++i) {
      if (i > 0) html += "<br>\n";
      html += escape(p[i]);
    }
    html += "</p>\n";
  }
  html += "</body>\n</html>\n";
  return html;
}

std::string MessageIdFor(std::string_view idempotency_key) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string local;
  for (char ch : idempotency_key) {
    auto c = uint8_t(ch);
    // '.' is escaped too (dot-atom forbids leading, trailing and doubled dots) and so is '='
    // itself, which keeps the mapping one-to-one.
    if (IsAtext(ch) && ch != '=') {
      local += ch;
    } else {
      local += '=';
      local += kHex[c >> 4];
      local += kHex[c & 15];
    }
  }
  if (local.empty()) local = "=00";
  return "<" + local + "@ennakko>";
}

std::string AddressOf(std::string_view mailbox) {
  size_t lt = mailbox.rfind('<');
  size_t gt = mailbox.rfind('>');
  if (lt != std::string_view::npos && gt != std::string_view::npos && gt > lt) {
    mailbox = mailbox.substr(lt + 1, gt - lt - 1);
  }
  while (!mailbox.empty() && mailbox.front() == ' ') mailbox.remove_prefix(1);
  while (!mailbox.empty() && mailbox.back() == ' ') mailbox.remove_suffix(1);
  return std::string(mailbox);
}

std::string Rfc5322Date(std::chrono::system_clock::time_point when) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::string BuildEmail(const OutgoingMessage& message, const EmailOptions& options,
                       std::string_view date) {
  const std::string_view lang = LanguageTag(message.recipient.language);
  std::string m;
  m += "From: " + FromHeader(options.from) + "\r\n";
  m += "To: " + NoLineBreaks(message.recipient.email.value_or("")) + "\r\n";
  m += "Subject: " + EncodeHeaderText(message.title) + "\r\n";
  m += "Date: " + NoLineBreaks(date) + "\r\n";
  m += "Message-ID: " + MessageIdFor(message.idempotency_key) + "\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Auto-Submitted: auto-generated\r\n";       // RFC 3834: no auto-replies to this
  m += "X-Auto-Response-Suppress: All\r\n";        // the same, for Exchange
  m += "Content-Language: " + std::string(lang) + "\r\n";
  m += "Content-Type: multipart/alternative; boundary=\"" + std::string(kBoundary) + "\"\r\n";
  m += "\r\n";
  m += "--" + std::string(kBoundary) + "\r\n";
  m += "Content-Type: text/plain; charset=UTF-8\r\n";
  m += "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
  m += QuotedPrintable(message.body) + "\r\n";
  m += "--" + std::string(kBoundary) + "\r\n";
  m += "Content-Type: text/html; charset=UTF-8\r\n";
  m += "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
  m += QuotedPrintable(message.html_body ? *message.html_body
                                         : HtmlFromText(message.title, message.body, lang)) +
       "\r\n";
  m += "--" + std::string(kBoundary) + "--\r\n";
  return m;
}

SendOutcome ClassifySmtpResult(int curl_code, long smtp_code, std::string_view enhanced_code,
                               std::string_view curl_error) {
  if (curl_code == CURLE_OK) return SendOutcome::Sent();
  std::string what = curl_easy_strerror(static_cast<CURLcode>(curl_code));
  if (smtp_code >= 400 && smtp_code < 600) {
    std::string detail = "smtp " + std::to_string(smtp_code);
    if (!enhanced_code.empty()) detail += " " + std::string(enhanced_code);
    detail += " (" + what + ")";
    if (smtp_code >= 500) return SendOutcome::Permanent(detail);
    return SendOutcome::Transient(detail);
  }
  // No refusal from the server: it could not be reached, timed out, or TLS failed. All may be
  // fixed by the time of the next attempt (by the server or by an operator).
  std::string detail = "smtp: " + what;
  if (smtp_code == 0 && !curl_error.empty()) detail += ": " + std::string(curl_error);
  return SendOutcome::Transient(detail);
}

EmailChannel::EmailChannel(EmailOptions options) : options_(std::move(options)) { InitCurlOnce(); }

Status EmailChannel::ValidateOptions(const EmailOptions& options) {
  auto parsed = boost::urls::parse_uri(options.smtp_url);
  if (!parsed) return Status::Invalid("email: smtp_url is not a URL");
  if (parsed->scheme() != "smtp" && parsed->scheme() != "smtps") {
    return Status::Invalid("email: smtp_url must be smtp:// or smtps://");
  }
  std::string host(parsed->host());
  if (host.empty()) return Status::Invalid("email: smtp_url has no host");
  if (parsed->scheme() == "smtp" && !options.require_starttls && !IsLoopbackHost(host)) {
    return Status::Invalid("email: require_starttls may be false only for a loopback host");
  }
  if (!IsUsableAddress(AddressOf(options.from))) {
    return Status::Invalid("email: from has no usable address");
  }
  if (options.timeout.count() <= 0) return Status::Invalid("email: timeout must be positive");
  return Status::Ok();
}

std::string EmailChannel::CannotReach(const Recipient& recipient) const {
  if (!recipient.email || recipient.email->empty()) return "no email address";
  if (!IsUsableAddress(*recipient.email)) return "email address is malformed";
  return {};
}

SendOutcome EmailChannel::Send(const OutgoingMessage& message) {
  if (std::string why = CannotReach(message.recipient); !why.empty()) {
    return SendOutcome::Permanent(why);
  }
  Session session;
  session.handover = message.handover;
  try {
    session.payload = BuildEmail(message, options_, Rfc5322Date(std::chrono::system_clock::now()));
  } catch (const std::exception& e) {
    return SendOutcome::Transient(std::string("email: building the message: ") + e.what());
  }
  const std::string message_id = MessageIdFor(message.idempotency_key);

  std::unique_ptr<CURL, CurlCleanup> curl(curl_easy_init());
  if (!curl) return SendOutcome::Transient("email: curl_easy_init failed");
  std::unique_ptr<curl_slist, CurlCleanup> rcpt(
      curl_slist_append(nullptr, ("<" + *message.recipient.email + ">").c_str()));
  if (!rcpt) return SendOutcome::Transient("email: out of memory");
  const std::string mail_from = "<" + AddressOf(options_.from) + ">";
  char errbuf[CURL_ERROR_SIZE] = {};

  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: required for threads
  curl_easy_setopt(c, CURLOPT_URL, options_.smtp_url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_USE_SSL,
                   options_.require_starttls ? long(CURLUSESSL_ALL) : long(CURLUSESSL_NONE));
  if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (!options_.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, options_.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, options_.password.c_str());
  }
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, mail_from.c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, &ReadPayload);
  curl_easy_setopt(c, CURLOPT_READDATA, &session);
  // No CURLOPT_INFILESIZE: libcurl counts the dot-stuffed bytes it sends against it, so a message
  // with a line starting with "." would end early (cut short, and without its hand-over). The
  // read callback's end of data (0) ends the message instead.
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, long(options_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, long(options_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  // The debug callback (which needs VERBOSE) is how libcurl shows the server's replies; it
  // writes nothing anywhere, it keeps the reply lines for the enhanced status code.
  curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, &CollectReplies);
  curl_easy_setopt(c, CURLOPT_DEBUGDATA, &session);
  curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);

  CURLcode rc = curl_easy_perform(c);
  long smtp_code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &smtp_code);
  if (rc == CURLE_OK) {
    spdlog::debug("email: outbox {} ({}) accepted by the smtp server", message.outbox_id,
                  message.recipient.pseudonym);
    return SendOutcome::Sent(message_id);
  }
  SendOutcome outcome =
      ClassifySmtpResult(rc, smtp_code, EnhancedCode(session.replies, smtp_code), errbuf);
  // Cut off after the end of DATA without the server's verdict (a 4xx/5xx there is a verdict):
  // the server may have accepted the message.
  if (session.handed_over && outcome.kind == SendOutcome::Kind::kTransient && smtp_code < 400) {
    outcome.ambiguous = true;
  }
  spdlog::warn("email: outbox {} ({}): {}", message.outbox_id, message.recipient.pseudonym,
               outcome.detail);
  return outcome;
}

}  // namespace ennakko
