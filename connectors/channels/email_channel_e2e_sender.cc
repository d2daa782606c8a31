// Sends one email through EmailChannel to a running SMTP server, for the email_channel_e2e test
// (tests/e2e/email_channel_e2e.py starts aiosmtpd through smtp_harness.py, runs this, and checks
// what the server stored). Configured from the environment: ENNAKKO_SMTP_URL,
// ENNAKKO_SMTP_STARTTLS (1 requires STARTTLS, 0 allows plain), ENNAKKO_SMTP_CA_FILE (may be
// empty), ENNAKKO_SMTP_TIMEOUT_MS, ENNAKKO_SMTP_USERNAME and ENNAKKO_SMTP_PASSWORD (optional), ENNAKKO_EMAIL_FROM, ENNAKKO_EMAIL_TO,
// ENNAKKO_EMAIL_KEY, ENNAKKO_EMAIL_LANGUAGE, ENNAKKO_EMAIL_SUBJECT and ENNAKKO_EMAIL_BODY (UTF-8).
// Prints "outcome: sent|transient|permanent DETAIL" and "ref: REF"; exit 0 only when sent.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "connectors/channels/email_channel.h"

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  if (!v) {
    std::fprintf(stderr, "missing environment variable %s\n", name);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main() {
  ennakko::EmailOptions options;
  options.smtp_url = Env("ENNAKKO_SMTP_URL");
  options.require_starttls = Env("ENNAKKO_SMTP_STARTTLS") == "1";
  options.ca_file = Env("ENNAKKO_SMTP_CA_FILE");
  options.from = Env("ENNAKKO_EMAIL_FROM");
  if (const char* u = std::getenv("ENNAKKO_SMTP_USERNAME")) options.username = u;
  if (const char* pw = std::getenv("ENNAKKO_SMTP_PASSWORD")) options.password = pw;
  if (const char* t = std::getenv("ENNAKKO_SMTP_TIMEOUT_MS")) {
    options.timeout = std::chrono::milliseconds(std::atol(t));
  }
  if (auto st = ennakko::EmailChannel::ValidateOptions(options); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 2;
  }
  ennakko::EmailChannel channel(options);

  ennakko::OutgoingMessage message;
  message.outbox_id = 1;
  message.idempotency_key = Env("ENNAKKO_EMAIL_KEY");
  message.service = "e2e";
  message.recipient.pseudonym = "p_e2e";
  message.recipient.language = Env("ENNAKKO_EMAIL_LANGUAGE");
  message.recipient.email = Env("ENNAKKO_EMAIL_TO");
  message.title = Env("ENNAKKO_EMAIL_SUBJECT");
  message.body = Env("ENNAKKO_EMAIL_BODY");

  ennakko::SendOutcome out = channel.Send(message);
  const char* kind = out.kind == ennakko::SendOutcome::Kind::kSent        ? "sent"
                     : out.kind == ennakko::SendOutcome::Kind::kTransient ? "transient"
                                                                          : "permanent";
  std::printf("outcome: %s %s\nref: %s\n", kind, out.detail.c_str(), out.gateway_ref.c_str());
  return out.kind == ennakko::SendOutcome::Kind::kSent ? 0 : 1;
}
