// Sends messages through the Suomi.fi channels, "suomifi" then "paper" (the order a rule's
// `channels: [suomifi, paper]` gives), to a running Suomi.fi double, for tests/e2e/
// suomifi_paper_e2e.py. Like the dispatcher: a channel whose CannotReach is non-empty is skipped,
// a Permanent outcome falls back to the next channel, a Transient one is retried (up to 5 times,
// 200 ms apart) on the same channel.
//
//   suomifi_channel_e2e_sender BASE_URL MESSAGES.json
//
// MESSAGES.json: [{key, hetu, language, title, body, protected?, address?: {name, street, zip,
// city}}]. Prints one JSON line per message: {key, tries: [{channel, outcome, detail}], ref}.
// Never prints identity codes or addresses (the channels' details hold none). Exit 0 unless the
// input or the options are bad (2).
#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "connectors/channels/suomifi_channel.h"
#include "connectors/channels/suomifi_paper_channel.h"

int main(int argc, char** argv) {
  using namespace ennakko;
  using json = nlohmann::json;
  if (argc != 3) {
    std::cerr << "usage: suomifi_channel_e2e_sender BASE_URL MESSAGES.json\n";
    return 2;
  }
  std::ifstream in(argv[2]);
  json input = json::parse(in, nullptr, false);
  if (!input.is_array()) {
    std::cerr << "MESSAGES.json is not a JSON array\n";
    return 2;
  }
  SuomiFiOptions o{argv[1], "ennakko", "test-password", "espoo-ennakko", std::chrono::seconds(5)};
  SuomiFiPaperOptions p;
  p.sender = {"Helsingin kaupunki", "Pohjoisesplanadi 11-13", "00170", "HELSINKI", "FI"};
  p.posti_username = "HKI001";
  p.posti_password = "1234";
  p.contact_email = "posti@example.fi";
  p.reply_instructions = {{"fi", "Vastaa soittamalla 09 310 12345 tai kirjoita: Kasvatus, PL 1."},
                          {"sv", "Svara genom att ringa 09 310 12345."}};
  if (!SuomiFiChannel::ValidateOptions(o).ok() || !SuomiFiPaperChannel::ValidateOptions(p).ok()) {
    std::cerr << "bad options\n";
    return 2;
  }
  SuomiFiChannel suomifi(o);
  SuomiFiPaperChannel paper(suomifi, p);
  Channel* order[] = {&suomifi, &paper};

  int n = 0;
  for (const json& m : input) {
    OutgoingMessage msg;
    msg.outbox_id = ++n;
    msg.idempotency_key = m.at("key");
    msg.service = "preschool-offer";
    msg.recipient.pseudonym = "p_" + std::to_string(n);
    msg.recipient.hetu = m.at("hetu");
    msg.recipient.language = m.at("language");
    msg.recipient.address_protected = m.value("protected", false);
    if (m.contains("address")) {
      const json& a = m["address"];
      msg.recipient.postal_address =
          MailingAddress{a.at("name"), a.at("street"), a.at("zip"), a.at("city"), "FI"};
    }
    msg.title = m.at("title");
    msg.body = m.at("body");

    json tries = json::array();
    std::string ref;
    for (Channel* channel : order) {
      if (std::string why = channel->CannotReach(msg.recipient); !why.empty()) {
        tries.push_back({{"channel", channel->name()}, {"outcome", "skipped"}, {"detail", why}});
        continue;
      }
      SendOutcome out;
      for (int attempt = 0; attempt < 5; ++attempt) {
        out = channel->Send(msg);
        const char* kind = out.kind == SendOutcome::Kind::kSent        ? "sent"
                           : out.kind == SendOutcome::Kind::kTransient ? "transient"
                                                                       : "permanent";
        tries.push_back({{"channel", channel->name()}, {"outcome", kind}, {"detail", out.detail}});
        if (out.kind != SendOutcome::Kind::kTransient) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      if (out.kind == SendOutcome::Kind::kSent) ref = out.gateway_ref;
      if (out.kind != SendOutcome::Kind::kPermanent) break;
    }
    std::cout << json{{"key", msg.idempotency_key}, {"tries", tries}, {"ref", ref}}.dump()
              << std::endl;
  }
  std::cout << "uploads " << paper.uploads() << std::endl;
  return 0;
}
