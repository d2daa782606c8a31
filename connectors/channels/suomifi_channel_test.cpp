#include "connectors/channels/suomifi_channel.h"

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "connectors/http/http_client.h"
#include "engine/base/hetu.h"
#include "tests/fakes/suomifi_fake_server.h"

namespace ennakko {
namespace {

using namespace std::chrono_literals;
using Kind = SendOutcome::Kind;
using json = nlohmann::json;

// Synthetic identity codes only (individual numbers 900-999). The double's default rule: an odd
// individual number has an active mailbox.
std::string ActiveHetu(int i = 0) { return MakeHetu(Date::FromYmd(2019, 3, 14), 901 + 2 * i); }
std::string InactiveHetu(int i = 0) { return MakeHetu(Date::FromYmd(2019, 3, 14), 900 + 2 * i); }

struct Fixture {
  explicit Fixture(SuomiFiFakeOptions fake_options = {}) : fake(std::move(fake_options)) {
    REQUIRE(fake.Start().ok());
    SuomiFiOptions o;
    o.base_url = fake.base_url() + "/";
    o.username = "ennakko";
    o.password = "test-password";
    o.service_id = "espoo-ennakko";
    o.timeout = 2s;
    REQUIRE(SuomiFiChannel::ValidateOptions(o).ok());
    channel = std::make_unique<SuomiFiChannel>(o);
  }
  SuomiFiFake fake;
  std::unique_ptr<SuomiFiChannel> channel;
};

OutgoingMessage Message(std::string key, std::string hetu = ActiveHetu()) {
  OutgoingMessage m;
  m.outbox_id = 42;
  m.idempotency_key = std::move(key);
  m.service = "preprimary";
  m.recipient.pseudonym = "p_42";
  m.recipient.hetu = std::move(hetu);
  m.recipient.language = "fi";
  m.title = "Esiopetuspaikka – tarjous";
  m.body = "Lapsellenne on varattu esiopetuspaikka.\nVastatkaa 31.3. mennessä.";
  return m;
}

TEST_CASE("suomifi: a message is sent once with the fields the API wants", "[suomifi]") {
  Fixture f;
  REQUIRE(f.channel->name() == "suomifi");
  REQUIRE(f.channel->idempotent());

  SendOutcome first = f.channel->Send(Message("k-1"));
  REQUIRE(first.kind == Kind::kSent);
  REQUIRE_FALSE(first.gateway_ref.empty());

  auto arrived = f.fake.messages();
  REQUIRE(arrived.size() == 1);
  CHECK(std::to_string(arrived[0].message_id) == first.gateway_ref);
  CHECK(arrived[0].external_id == "k-1");
  CHECK(arrived[0].recipient_id == ActiveHetu());
  CHECK(arrived[0].service_id == "espoo-ennakko");
  CHECK(arrived[0].title == "Esiopetuspaikka – tarjous");
  CHECK(arrived[0].body == Message("k").body);
  CHECK(arrived[0].body_format == "Text");

  SECTION("the same key again: 409 counts as sent, with the original id, and nothing new arrives") {
    SendOutcome again = f.channel->Send(Message("k-1"));
    REQUIRE(again.kind == Kind::kSent);
    CHECK(again.gateway_ref == first.gateway_ref);
    CHECK(f.fake.messages().size() == 1);
    CHECK(f.fake.stats().message_requests == 2);
  }
  SECTION("the token is cached across sends") {
    REQUIRE(f.channel->Send(Message("k-2")).kind == Kind::kSent);
    CHECK(f.fake.stats().token_requests == 1);
  }
}

TEST_CASE("suomifi: an expired token is renewed once and the message sent", "[suomifi]") {
  Fixture f;
  REQUIRE(f.channel->Send(Message("k-1")).kind == Kind::kSent);
  f.fake.ExpireTokens();
  SendOutcome out = f.channel->Send(Message("k-2"));
  REQUIRE(out.kind == Kind::kSent);
  CHECK(f.fake.stats().token_requests == 2);
  CHECK(f.fake.messages().size() == 2);
}

TEST_CASE("suomifi: a token is renewed before expires_in runs out", "[suomifi]") {
  SuomiFiFakeOptions o;
  o.token_lifetime = 1s;
  Fixture f(o);
  REQUIRE(f.channel->Send(Message("k-1")).kind == Kind::kSent);
  std::this_thread::sleep_for(1100ms);
  REQUIRE(f.channel->Send(Message("k-2")).kind == Kind::kSent);
  CHECK(f.fake.stats().token_requests == 2);
  CHECK(f.fake.stats().message_requests == 2);  // no request went out with the stale token
}

TEST_CASE("suomifi: outcomes by answer", "[suomifi]") {
  Fixture f;
  SuomiFiFakeFault fault;
  fault.path = "/v2/messages/electronic";

  SECTION("500 is transient, and the retry then sends exactly once") {
    fault.status = 500;
    f.fake.InjectFault(fault);
    SendOutcome out = f.channel->Send(Message("k-1"));
    CHECK(out.kind == Kind::kTransient);
    CHECK(out.detail == "suomifi 500: injected fault");
    CHECK(f.fake.messages().empty());
    CHECK(f.channel->Send(Message("k-1")).kind == Kind::kSent);
    CHECK(f.fake.messages().size() == 1);
  }
  SECTION("503 and 429 are transient") {
    fault.status = 503;
    f.fake.InjectFault(fault);
    fault.status = 429;
    fault.retry_after_s = 5;
    f.fake.InjectFault(fault);
    CHECK(f.channel->Send(Message("k-1")).kind == Kind::kTransient);
    CHECK(f.channel->Send(Message("k-1")).kind == Kind::kTransient);
    CHECK(f.channel->Send(Message("k-1")).kind == Kind::kSent);
  }
  SECTION("a reply slower than the timeout is transient") {
    fault.status = 0;
    fault.delay_ms = 2500;
    f.fake.InjectFault(fault);
    CHECK(f.channel->Send(Message("k-1")).kind == Kind::kTransient);
    // The slow request was served after all: the retry meets 409 and counts as sent, once.
    CHECK(f.channel->Send(Message("k-1")).kind == Kind::kSent);
    std::this_thread::sleep_for(700ms);  // let the slow handler finish either way
    CHECK(f.fake.messages().size() == 1);
  }
  SECTION("no active mailbox is permanent, without personal data") {
    SendOutcome out = f.channel->Send(Message("k-1", InactiveHetu()));
    CHECK(out.kind == Kind::kPermanent);
    CHECK(out.detail == "no active Suomi.fi mailbox");
    CHECK(f.fake.messages().empty());
  }
  SECTION("another 4xx is permanent with Suomi.fi's reason") {
    fault.status = 422;
    f.fake.InjectFault(fault);
    SendOutcome out = f.channel->Send(Message("k-1"));
    CHECK(out.kind == Kind::kPermanent);
    CHECK(out.detail == "suomifi 422: injected fault");
  }
  SECTION("401 on the retry with a fresh token is transient; two tokens were asked for") {
    fault.status = 401;
    fault.count = 2;
    f.fake.InjectFault(fault);
    SendOutcome out = f.channel->Send(Message("k-1"));
    CHECK(out.kind == Kind::kTransient);
    CHECK(out.detail.find("401") != std::string::npos);
    CHECK(f.fake.stats().token_requests == 2);
    CHECK(f.channel->Send(Message("k-1")).kind == Kind::kSent);
  }
  SECTION("a single 401 is renewed and retried transparently") {
    fault.status = 401;
    f.fake.InjectFault(fault);
    CHECK(f.channel->Send(Message("k-1")).kind == Kind::kSent);
    CHECK(f.fake.stats().token_requests == 2);
  }
  SECTION("a 5xx from the token endpoint is transient") {
    fault.path = "/v1/token";
    fault.status = 502;
    f.fake.InjectFault(fault);
    CHECK(f.channel->Send(Message("k-1")).kind == Kind::kTransient);
    CHECK(f.fake.stats().message_requests == 0);
  }
  SECTION("texts the API would refuse fail permanently without a call") {
    OutgoingMessage m = Message("k-1");
    m.title = std::string(257, 'a');
    CHECK(f.channel->Send(m).kind == Kind::kPermanent);
    m = Message("k-1");
    m.body = std::string(40001, 'a');
    CHECK(f.channel->Send(m).kind == Kind::kPermanent);
    m = Message(std::string(257, 'k'));
    CHECK(f.channel->Send(m).kind == Kind::kPermanent);
    m = Message("k-1");
    m.recipient.hetu.clear();
    CHECK(f.channel->Send(m).kind == Kind::kPermanent);
    CHECK(f.fake.stats().token_requests == 0);
    // 256 characters of multi-byte text are still within the limit.
    m = Message("k-1");
    m.title.clear();
    for (int i = 0; i < 256; ++i) m.title += "ä";
    CHECK(f.channel->Send(m).kind == Kind::kSent);
  }
}

TEST_CASE("suomifi: wrong credentials and an unreachable API are transient", "[suomifi]") {
  SuomiFiFakeOptions o;
  o.password = "rotated";
  Fixture f(o);
  SendOutcome out = f.channel->Send(Message("k-1"));
  CHECK(out.kind == Kind::kTransient);
  CHECK(out.detail.find("suomifi token refused: suomifi 400") != std::string::npos);

  const std::string url = f.fake.base_url();
  f.fake.Stop();
  SuomiFiOptions gone{url, "ennakko", "test-password", "espoo-ennakko", 1s};
  CHECK(SuomiFiChannel(gone).Send(Message("k-1")).kind == Kind::kTransient);
}

TEST_CASE("suomifi: ActiveMailboxes keeps only active ones, in batches of 10,000", "[suomifi]") {
  Fixture f;
  CHECK(f.channel->ActiveMailboxes({})->empty());
  CHECK(f.fake.stats().token_requests == 0);

  auto small = f.channel->ActiveMailboxes({InactiveHetu(0), ActiveHetu(0), ActiveHetu(1)});
  REQUIRE(small.ok());
  CHECK(*small == std::vector<std::string>{ActiveHetu(0), ActiveHetu(1)});

  std::vector<std::string> many;
  for (int day = 0; many.size() < 10001; ++day) {
    for (int n = 900; n <= 999 && many.size() < 10001; ++n) {
      many.push_back(MakeHetu(Date{Date::FromYmd(2018, 1, 1).days + day}, n));
    }
  }
  const int before = f.fake.stats().mailbox_requests;
  auto big = f.channel->ActiveMailboxes(many);
  REQUIRE(big.ok());
  CHECK(f.fake.stats().mailbox_requests - before == 2);
  size_t odd = 0;
  for (const std::string& id : many) odd += ParseHetu(id)->individual_number % 2;
  CHECK(big->size() == odd);

  SECTION("a 5xx is Unavailable") {
    f.fake.InjectFault({.status = 503, .count = 1, .path = "/v1/mailboxes/active"});
    auto r = f.channel->ActiveMailboxes({ActiveHetu()});
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kUnavailable);
  }
  SECTION("a 400 is Permanent") {
    f.fake.InjectFault({.status = 400, .count = 1, .path = "/v1/mailboxes/active"});
    auto r = f.channel->ActiveMailboxes({ActiveHetu()});
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kPermanent);
  }
}

TEST_CASE("suomifi: concurrent sends share one token and each arrives once", "[suomifi]") {
  Fixture f;
  std::vector<std::thread> threads;
  std::atomic<int> sent{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        auto key = "k-" + std::to_string(t) + "-" + std::to_string(i);
        if (f.channel->Send(Message(key, ActiveHetu(t))).kind == Kind::kSent) ++sent;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(sent == 40);
  CHECK(f.fake.messages().size() == 40);
  CHECK(f.fake.stats().token_requests == 1);
}

// The double itself, over HTTP, where the channel does not go.
TEST_CASE("suomifi fake: validation, events paging and the admin API", "[suomifi]") {
  SuomiFiFakeOptions o;
  o.events_page_size = 2;
  Fixture f(o);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(f.channel->Send(Message("e-" + std::to_string(i), ActiveHetu(i))).kind == Kind::kSent);
  }
  const std::string base = f.fake.base_url();
  auto token = HttpCall("POST", base + "/v1/token",
                        R"({"username":"ennakko","password":"test-password"})", {}, 2s);
  REQUIRE(token.ok());
  REQUIRE(token->status == 200);
  json tj = json::parse(token->body);
  CHECK(tj["token_type"] == "Bearer");
  CHECK(tj["expires_in"] == 3600);
  const std::map<std::string, std::string> auth = {
      {"Authorization", "Bearer " + tj["access_token"].get<std::string>()}};

  auto page1 = HttpCall("GET", base + "/v2/events", "", auth, 2s);
  REQUIRE(page1.ok());
  json p1 = json::parse(page1->body);
  REQUIRE(p1["events"].size() == 2);
  CHECK(p1["events"][0]["type"] == "Electronic message created");
  CHECK(p1["events"][0]["metadata"]["externalId"] == "e-0");
  CHECK(p1["events"][0]["metadata"]["serviceId"] == "espoo-ennakko");
  auto page2 = HttpCall("GET",
                        base + "/v2/events?continuationToken=" +
                            p1["continuationToken"].get<std::string>(),
                        "", auth, 2s);
  json p2 = json::parse(page2->body);
  REQUIRE(p2["events"].size() == 1);
  CHECK(p2["events"][0]["metadata"]["externalId"] == "e-2");
  auto page3 = HttpCall("GET",
                        base + "/v2/events?continuationToken=" +
                            p2["continuationToken"].get<std::string>(),
                        "", auth, 2s);
  CHECK(json::parse(page3->body)["events"].empty());
  CHECK(HttpCall("GET", base + "/v2/events", "", {}, 2s)->status == 401);

  // A request missing a required field of the OpenAPI shape.
  json bad = {{"externalId", "x"}, {"recipient", {{"id", ActiveHetu()}}},
              {"sender", {{"serviceId", "s"}}}, {"electronic", {{"title", "t"}, {"body", "b"}}}};
  auto invalid = HttpCall("POST", base + "/v2/messages/electronic", bad.dump(), auth, 2s);
  CHECK(invalid->status == 400);
  CHECK(json::parse(invalid->body).contains("validationErrors"));

  auto listed = HttpCall("GET", base + "/_test/messages", "", {}, 2s);
  CHECK(json::parse(listed->body).size() == 3);
  auto fault = HttpCall("POST", base + "/_test/faults", R"({"status":503,"count":1})", {}, 2s);
  CHECK(fault->status == 204);
  CHECK(HttpCall("GET", base + "/v2/events", "", auth, 2s)->status == 503);
  CHECK(HttpCall("POST", base + "/_test/expire-tokens", "", {}, 2s)->status == 204);
  CHECK(HttpCall("GET", base + "/v2/events", "", auth, 2s)->status == 401);
}

}  // namespace
}  // namespace ennakko
