// The Suomi.fi events feed against the test double: paging with a continuation token, the
// meaning of each event type, and a token renewed after expiry.
#include "connectors/channels/suomifi_events.h"

#include <catch2/catch.hpp>

#include "engine/base/hetu.h"
#include "tests/fakes/suomifi_fake_server.h"

namespace ennakko {
namespace {

using namespace std::chrono_literals;

TEST_CASE("the events feed pages with a continuation token and maps delivery events") {
  SuomiFiFakeOptions fo;
  fo.events_page_size = 2;
  fo.mailboxes = SuomiFiFakeOptions::Mailboxes::kAll;
  SuomiFiFake fake(fo);
  REQUIRE(fake.Start().ok());
  SuomiFiOptions o;
  o.base_url = fake.base_url() + "/";
  o.username = "ennakko";
  o.password = "test-password";
  o.service_id = "espoo-ennakko";
  o.timeout = 2s;
  SuomiFiChannel channel(o);
  for (int i = 0; i < 2; ++i) {
    OutgoingMessage m;
    m.outbox_id = i + 1;
    m.idempotency_key = "key-" + std::to_string(i);
    m.recipient.hetu = MakeHetu(Date::FromYmd(2019, 3, 14), 901 + 2 * i);
    m.recipient.pseudonym = "p";
    m.title = "t";
    m.body = "b";
    REQUIRE(channel.Send(m).kind == SendOutcome::Kind::kSent);
  }
  auto msgs = fake.messages();
  REQUIRE(msgs.size() == 2);
  REQUIRE(fake.AddEvent(msgs[0].message_id, "Electronic message read").ok());
  REQUIRE(fake.AddEvent(msgs[1].message_id, "Posti: returned to sender", "JJFI123").ok());
  CHECK(fake.AddEvent(424242, "Electronic message read").code() == StatusCode::kNotFound);

  SuomiFiEventsClient client(o);
  std::vector<SuomiFiEvent> all;
  std::string token;
  for (int page = 0; page < 5; ++page) {
    auto p = client.Fetch(token);
    REQUIRE(p.ok());
    CHECK(p->events.size() <= 2);
    token = p->continuation_token;
    if (p->events.empty()) break;
    all.insert(all.end(), p->events.begin(), p->events.end());
  }
  // Two "created" events, then ours.
  REQUIRE(all.size() == 4);
  CHECK(DeliveryMeaning(all[0]).kind == SuomiFiDelivery::Kind::kNone);
  CHECK(all[2].type == "Electronic message read");
  CHECK(all[2].external_id == "key-0");
  CHECK(all[2].message_id == std::to_string(msgs[0].message_id));
  CHECK(DeliveryMeaning(all[2]).kind == SuomiFiDelivery::Kind::kDelivered);
  CHECK(DeliveryMeaning(all[2]).how == "read");
  auto returned = DeliveryMeaning(all[3]);
  CHECK(returned.kind == SuomiFiDelivery::Kind::kFailed);
  CHECK(returned.reason == "Posti: returned to sender (tracking JJFI123)");
  // Nothing new: the same token again gives an empty page; an expired token is renewed.
  fake.ExpireTokens();
  auto again = client.Fetch(token);
  REQUIRE(again.ok());
  CHECK(again->events.empty());
  CHECK(again->continuation_token == token);

  SuomiFiEvent paper{"Sent for printing and enveloping", "", "1", "k", ""};
  CHECK(DeliveryMeaning(paper).how == "paper");
  paper.type = "Paper mail created";
  CHECK(DeliveryMeaning(paper).how == "paper");
}

}  // namespace
}  // namespace ennakko
