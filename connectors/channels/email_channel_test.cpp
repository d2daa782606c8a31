#include "connectors/channels/email_channel.h"

#include <curl/curl.h>

#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace ennakko {
namespace {

using namespace std::chrono_literals;

EmailOptions Options() {
  EmailOptions o;
  o.smtp_url = "smtp://127.0.0.1:2525";
  o.from = "Helsingin kaupunki <ennakko@example.fi>";
  return o;
}

OutgoingMessage Message() {
  OutgoingMessage m;
  m.outbox_id = 7;
  m.idempotency_key = "0a1b2c";
  m.recipient.pseudonym = "p_1";
  m.recipient.language = "sv";
  m.recipient.email = "anna@example.fi";
  m.title = "Förskoleplats";
  m.body = "Hej!\nDu har en plats.\n\nSvara <ja> & tack.";
  return m;
}

// The lines of `s` split on CRLF.
std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t e = s.find("\r\n", pos);
    out.push_back(s.substr(pos, e == std::string::npos ? std::string::npos : e - pos));
    if (e == std::string::npos) break;
    pos = e + 2;
  }
  return out;
}

TEST_CASE("EncodeHeaderText leaves ASCII alone and encodes UTF-8 as RFC 2047 words") {
  CHECK(EncodeHeaderText("Pre-primary place") == "Pre-primary place");
  CHECK(EncodeHeaderText("Esiopetuspaikka") == "Esiopetuspaikka");
  CHECK(EncodeHeaderText("Hyvä") == "=?UTF-8?B?SHl2w6Q=?=");
  CHECK(EncodeHeaderText("a=?b") == "=?UTF-8?B?YT0/Yg==?=");  // looks like an encoded word
  CHECK(EncodeHeaderText("evil\r\nBcc: x@y.z") == "evil  Bcc: x@y.z");  // no header injection

  SECTION("long text: several words, each at most 75 characters, no split character") {
    std::string text;
    for (int i = 0; i < 40; ++i) text += "ä€";  // 2- and 3-byte sequences
    std::string enc = EncodeHeaderText(text);
    auto lines = Lines(enc);
    CHECK(lines.size() > 1);
    for (size_t i = 0; i < lines.size(); ++i) {
      std::string word = i == 0 ? lines[i] : lines[i].substr(1);
      if (i > 0) CHECK(lines[i][0] == ' ');
      CHECK(word.size() <= 75);
      CHECK(word.starts_with("=?UTF-8?B?"));
      CHECK(word.ends_with("?="));
    }
  }
}

TEST_CASE("QuotedPrintable escapes, breaks long lines softly and uses CRLF") {
  CHECK(QuotedPrintable("abc") == "abc");
  CHECK(QuotedPrintable("ä €") == "=C3=A4 =E2=82=AC");
  CHECK(QuotedPrintable("a=b") == "a=3Db");
  CHECK(QuotedPrintable("one\ntwo\r\nthree") == "one\r\ntwo\r\nthree");
  CHECK(QuotedPrintable("trailing \nx\t") == "trailing=20\r\nx=09");
  CHECK(QuotedPrintable(".\n.x") == "=2E\r\n=2Ex");
  CHECK(QuotedPrintable("From me\nfrom") == "=46rom me\r\nfrom");
  CHECK(QuotedPrintable("\n\n") == "\r\n\r\n");

  std::string long_line(200, 'x');
  long_line += "ää";
  std::string qp = QuotedPrintable(long_line);
  std::string joined;
  for (const auto& line : Lines(qp)) {
    CHECK(line.size() <= 76);
    joined += line.ends_with("=") ? line.substr(0, line.size() - 1) : line;
  }
  CHECK(joined == std::string(200, 'x') + "=C3=A4=C3=A4");
  // An escape is never split by a soft break.
  for (const auto& line : Lines(qp)) {
    auto eq = line.rfind('=');
    if (eq != std::string::npos && eq + 1 != line.size()) CHECK(eq + 3 <= line.size());
  }
}

TEST_CASE("HtmlFromText escapes and makes paragraphs from blank lines") {
  std::string html =
      HtmlFromText("A <b> & \"c\"", "Hei <script>\nrivi 2\n\n \nToinen & 'k'\n", "fi");
  CHECK(html.find("<html lang=\"fi\">") != std::string::npos);
  CHECK(html.find("<meta charset=\"UTF-8\">") != std::string::npos);
  CHECK(html.find("<title>A &lt;b&gt; &amp; &quot;c&quot;</title>") != std::string::npos);
  CHECK(html.find("<p>Hei &lt;script&gt;<br>\nrivi 2</p>\n<p>Toinen &amp; &#39;k&#39;</p>") !=
        std::string::npos);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("src=") == std::string::npos);
  CHECK(html.find("href=") == std::string::npos);
  CHECK(HtmlFromText("t", "x", "de").find("lang=\"fi\"") != std::string::npos);
}

TEST_CASE("MessageIdFor is the key, made a dot-atom one-to-one") {
  CHECK(MessageIdFor("0a1b2c") == "<0a1b2c@ennakko>");
  CHECK(MessageIdFor("a.b") == "<a=2Eb@ennakko>");
  CHECK(MessageIdFor("a=2Eb") == "<a=3D2Eb@ennakko>");  // distinct from the line above
  CHECK(MessageIdFor("x y@z>") == "<x=20y=40z=3E@ennakko>");
}

TEST_CASE("AddressOf and Rfc5322Date") {
  CHECK(AddressOf("Helsingin kaupunki <ennakko@example.fi>") == "ennakko@example.fi");
  CHECK(AddressOf(" ennakko@example.fi ") == "ennakko@example.fi");
  // 2025-08-05 09:30:00 UTC, a Tuesday.
  CHECK(Rfc5322Date(std::chrono::system_clock::from_time_t(1754386200)) ==
        "Tue, 05 Aug 2025 09:30:00 +0000");
  CHECK(Rfc5322Date(std::chrono::system_clock::from_time_t(0)) ==
        "Thu, 01 Jan 1970 00:00:00 +0000");
}

TEST_CASE("BuildEmail writes the headers and both parts") {
  EmailOptions o = Options();
  std::string mail = BuildEmail(Message(), o, "Tue, 05 Aug 2025 09:30:00 +0000");
  size_t end_of_headers = mail.find("\r\n\r\n");
  REQUIRE(end_of_headers != std::string::npos);
  std::string headers = mail.substr(0, end_of_headers + 2);
  CHECK(headers.find("From: Helsingin kaupunki <ennakko@example.fi>\r\n") != std::string::npos);
  CHECK(headers.find("To: anna@example.fi\r\n") != std::string::npos);
  CHECK(headers.find("Subject: =?UTF-8?B?RsO2cnNrb2xlcGxhdHM=?=\r\n") != std::string::npos);
  CHECK(headers.find("Date: Tue, 05 Aug 2025 09:30:00 +0000\r\n") != std::string::npos);
  CHECK(headers.find("Message-ID: <0a1b2c@ennakko>\r\n") != std::string::npos);
  CHECK(headers.find("MIME-Version: 1.0\r\n") != std::string::npos);
  CHECK(headers.find("Auto-Submitted: auto-generated\r\n") != std::string::npos);
  CHECK(headers.find("Content-Language: sv\r\n") != std::string::npos);
  CHECK(headers.find("Content-Type: multipart/alternative; boundary=\"=_ennakko_alternative\"") !=
        std::string::npos);
  CHECK(mail.find("Content-Type: text/plain; charset=UTF-8\r\n"
                  "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
                  "Hej!\r\nDu har en plats.\r\n\r\nSvara <ja> & tack.\r\n"
                  "--=_ennakko_alternative\r\n") != std::string::npos);
  CHECK(mail.find("Content-Type: text/html; charset=UTF-8\r\n") != std::string::npos);
  CHECK(mail.find("Svara &lt;ja&gt; &amp; tack.") != std::string::npos);
  CHECK(mail.ends_with("\r\n--=_ennakko_alternative--\r\n"));
  // Every line ends in CRLF and fits SMTP's limit.
  for (size_t i = 0; i < mail.size(); ++i) {
    if (mail[i] == '\n') CHECK((i > 0 && mail[i - 1] == '\r'));
  }
  for (const auto& line : Lines(mail)) CHECK(line.size() <= 998);

  SECTION("a non-ASCII display name is encoded, specials are quoted") {
    o.from = "Esbo stad – Espoo <ennakko@espoo.fi>";
    CHECK(BuildEmail(Message(), o, "d").find("From: =?UTF-8?B?") != std::string::npos);
    o.from = "Espoo, kaupunki <ennakko@espoo.fi>";
    CHECK(BuildEmail(Message(), o, "d").find("From: \"Espoo, kaupunki\" <ennakko@espoo.fi>\r\n") !=
          std::string::npos);
    o.from = "ennakko@espoo.fi";
    CHECK(BuildEmail(Message(), o, "d").find("From: ennakko@espoo.fi\r\n") != std::string::npos);
  }
  SECTION("a body that contains the boundary cannot end a part") {
    OutgoingMessage m = Message();
    m.body = "--=_ennakko_alternative--\n";
    std::string b = BuildEmail(m, Options(), "d");
    const std::string closing = "\r\n--=_ennakko_alternative--\r\n";
    CHECK(b.find(closing) == b.rfind(closing));
  }
  SECTION("a service's own HTML replaces the derived one; the text part stays the body") {
    OutgoingMessage m = Message();
    m.html_body = "<p>Hej <b>Åsa</b></p>";
    std::string b = BuildEmail(m, Options(), "d");
    CHECK(b.find(QuotedPrintable("<p>Hej <b>Åsa</b></p>")) != std::string::npos);
    CHECK(b.find("&lt;ja&gt;") == std::string::npos);  // not the escaped plain body
    CHECK(b.find(QuotedPrintable(m.body)) != std::string::npos);
  }
}

TEST_CASE("ClassifySmtpResult maps curl and SMTP outcomes") {
  using K = SendOutcome::Kind;
  CHECK(ClassifySmtpResult(CURLE_OK, 250, "").kind == K::kSent);
  auto refused = ClassifySmtpResult(CURLE_COULDNT_CONNECT, 0, "", "Failed to connect to 127.0.0.1");
  CHECK(refused.kind == K::kTransient);
  CHECK(refused.detail.find("127.0.0.1") != std::string::npos);
  CHECK(ClassifySmtpResult(CURLE_OPERATION_TIMEDOUT, 0, "").kind == K::kTransient);
  CHECK(ClassifySmtpResult(CURLE_USE_SSL_FAILED, 250, "").kind == K::kTransient);
  CHECK(ClassifySmtpResult(CURLE_PEER_FAILED_VERIFICATION, 220, "").kind == K::kTransient);
  auto greylisted = ClassifySmtpResult(CURLE_SEND_ERROR, 451, "4.7.1");
  CHECK(greylisted.kind == K::kTransient);
  CHECK(greylisted.detail.starts_with("smtp 451 4.7.1"));
  auto unknown = ClassifySmtpResult(CURLE_SEND_ERROR, 550, "5.1.1", "not used: the server spoke");
  CHECK(unknown.kind == K::kPermanent);
  CHECK(unknown.detail.starts_with("smtp 550 5.1.1"));
  CHECK(unknown.detail.find("not used") == std::string::npos);
  CHECK(ClassifySmtpResult(CURLE_LOGIN_DENIED, 535, "").kind == K::kPermanent);
}

TEST_CASE("EmailChannel basics: name, reachability, option checks") {
  EmailChannel channel(Options());
  CHECK(channel.name() == "email");
  CHECK_FALSE(channel.idempotent());
  Recipient r;
  CHECK(channel.CannotReach(r) == "no email address");
  r.email = "";
  CHECK(channel.CannotReach(r) == "no email address");
  for (const char* bad : {"anna", "@example.fi", "anna@", "an na@example.fi", "a<b>@x.fi",
                          "anna@example.fi\r\nRCPT TO:<x@y.z>", "änna@example.fi"}) {
    r.email = bad;
    CHECK(channel.CannotReach(r) == "email address is malformed");
  }
  r.email = "anna.virtanen+ennakko@example.fi";
  CHECK(channel.CannotReach(r).empty());

  OutgoingMessage m = Message();
  m.recipient.email.reset();
  SendOutcome out = channel.Send(m);
  CHECK(out.kind == SendOutcome::Kind::kPermanent);
  CHECK(out.detail == "no email address");

  EmailOptions o = Options();
  CHECK(EmailChannel::ValidateOptions(o).ok());
  o.require_starttls = false;
  CHECK(EmailChannel::ValidateOptions(o).ok());  // loopback
  o.smtp_url = "smtp://mail.example.fi:587";
  CHECK_FALSE(EmailChannel::ValidateOptions(o).ok());  // plain, not loopback
  o.require_starttls = true;
  CHECK(EmailChannel::ValidateOptions(o).ok());
  o.smtp_url = "smtps://mail.example.fi:465";
  CHECK(EmailChannel::ValidateOptions(o).ok());
  o.smtp_url = "http://mail.example.fi";
  CHECK_FALSE(EmailChannel::ValidateOptions(o).ok());
  o = Options();
  o.from = "Helsinki";
  CHECK_FALSE(EmailChannel::ValidateOptions(o).ok());
  o = Options();
  o.timeout = 0ms;
  CHECK_FALSE(EmailChannel::ValidateOptions(o).ok());
}

TEST_CASE("EmailChannel: nothing listening is Transient") {
  EmailOptions o = Options();
  o.smtp_url = "smtp://127.0.0.1:1";  // port 1: refused
  o.require_starttls = false;
  o.timeout = 2s;
  EmailChannel channel(o);
  SendOutcome out = channel.Send(Message());
  CHECK(out.kind == SendOutcome::Kind::kTransient);
  CHECK(out.detail.find("anna") == std::string::npos);
}

}  // namespace
}  // namespace ennakko
