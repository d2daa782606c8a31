// Sends one SMS through KannelSmsChannel to a running Kannel, for the kannel_channel_e2e test
// (kannel_channel_e2e.py starts Kannel with its fake SMSC, runs this, and checks what the fake
// SMSC received). Configured from the environment: ENNAKKO_SENDSMS_URL, ENNAKKO_SENDSMS_USER,
// ENNAKKO_SENDSMS_PASSWORD, ENNAKKO_SMS_TO, ENNAKKO_SMS_TEXT (UTF-8). Exit 0 when Kannel accepted.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "connectors/channels/kannel_sms_channel.h"

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
  ennakko::KannelSmsOptions options;
  options.sendsms_url = Env("ENNAKKO_SENDSMS_URL");
  options.username = Env("ENNAKKO_SENDSMS_USER");
  options.password = Env("ENNAKKO_SENDSMS_PASSWORD");
  options.from = "Ennakko";
  if (auto st = ennakko::KannelSmsChannel::ValidateOptions(options); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 2;
  }
  ennakko::KannelSmsChannel channel(options);

  ennakko::OutgoingMessage message;
  message.outbox_id = 1;
  message.idempotency_key = "e2e-1";
  message.service = "e2e";
  message.recipient.pseudonym = "p_e2e";
  message.recipient.phone = Env("ENNAKKO_SMS_TO");
  message.body = Env("ENNAKKO_SMS_TEXT");

  ennakko::SendOutcome out = channel.Send(message);
  const char* kind = out.kind == ennakko::SendOutcome::Kind::kSent        ? "sent"
                     : out.kind == ennakko::SendOutcome::Kind::kTransient ? "transient"
                                                                          : "permanent";
  std::printf("outcome: %s %s\n", kind, out.detail.c_str());
  return out.kind == ennakko::SendOutcome::Kind::kSent ? 0 : 1;
}
