// The Suomi.fi mailbox status cache (engine/dispatch/mailbox_status.h) against the Suomi.fi
// Messages test double in process, through SuomiFiChannel::ActiveMailboxes: batched checks,
// answers kept in the store until stale, only unknown or stale recipients asked, a failed check
// reported (the dispatcher then holds the offers), and the dispatcher choosing Suomi.fi only for
// active mailboxes end to end.
#include <mutex>
#include <set>

#include <catch2/catch.hpp>

#include "connectors/channels/suomifi_channel.h"
#include "engine/base/hetu.h"
#include "engine/dispatch/dispatcher.h"
#include "engine/dispatch/mailbox_status.h"
#include "engine/store/migrations.h"
#include "tests/fakes/suomifi_fake_server.h"

using namespace ennakko;
namespace chr = std::chrono;

namespace {

// The double's default: an odd individual number has an active mailbox.
std::string Code(int i) { return MakeHetu(Date::FromYmd(1988, 5, 17), 900 + i); }

struct Fixture {
  SuomiFiFake fake;
  std::unique_ptr<SuomiFiChannel> channel;
  std::unique_ptr<Db> db = OpenStore({.path = ":memory:"}).value();
  FakeClock clock{chr::sys_days{chr::year{2026} / 11 / 23} + chr::hours{8}};

  explicit Fixture(int residents) {
    REQUIRE(fake.Start().ok());
    SuomiFiOptions o;
    o.base_url = fake.base_url();
    o.username = "ennakko";
    o.password = "test-password";
    o.service_id = "ennakko-test";
    o.timeout = chr::seconds(5);
    channel = std::make_unique<SuomiFiChannel>(o);
    auto st = db->Prepare("INSERT INTO residents (id, hetu, first_names, language, updated_at) VALUES (?, ?, 'X', 'fi', 'x')");
    for (int i = 0; i < residents; ++i) {
      st->Reset();
      st->Bind(1, i + 1).Bind(2, Code(i));
      REQUIRE(st->Run().ok());
    }
  }
  MailboxCheckFn Check() {
    return [this](const std::vector<std::string>& ids) { return channel->ActiveMailboxes(ids); };
  }
};

}  // namespace

TEST_CASE("mailbox status: one batched check, cached until stale, only unknown or stale asked", "[mailbox][suomifi]") {
  Fixture f(25);
  MailboxStatusCache cache(*f.db, f.clock, f.Check(), {.max_age = chr::hours(24), .batch = 10});
  std::vector<std::string> codes;
  for (int i = 0; i < 20; ++i) codes.push_back(Code(i));
  auto r = cache.Refresh(codes);
  REQUIRE(r.ok());
  CHECK(r->asked == 20);
  CHECK(r->active == 10);
  CHECK(r->calls == 2);  // 20 ids in batches of 10
  CHECK(f.fake.stats().mailbox_requests == 2);
  CHECK(cache.Active(Code(1)).value() == std::optional<bool>(true));
  CHECK(cache.Active(Code(2)).value() == std::optional<bool>(false));
  CHECK_FALSE(cache.Active(Code(22)).value().has_value());  // never asked

  // Fresh answers are not asked again; the five new recipients are, in one call.
  f.clock.Advance(chr::hours(23));
  std::vector<std::string> more = codes;
  for (int i = 20; i < 25; ++i) more.push_back(Code(i));
  r = cache.Refresh(more);
  REQUIRE(r.ok());
  CHECK(r->asked == 5);
  CHECK(f.fake.stats().mailbox_requests == 3);

  // Past the freshness limit the first twenty are stale and asked again.
  f.clock.Advance(chr::hours(2));
  CHECK_FALSE(cache.Active(Code(1)).value().has_value());
  r = cache.Refresh(more);
  REQUIRE(r.ok());
  CHECK(r->asked == 20);
  CHECK(f.fake.stats().mailbox_requests == 5);
}

TEST_CASE("mailbox status: a failing check is an error and leaves the status unknown", "[mailbox][suomifi]") {
  Fixture f(4);
  MailboxStatusCache cache(*f.db, f.clock, f.Check());
  f.fake.InjectFault({.status = 503, .count = 1, .path = "/v1/mailboxes/active"});
  auto r = cache.Refresh({Code(1), Code(2)});
  CHECK_FALSE(r.ok());
  CHECK(r.status().message().find(Code(1)) == std::string::npos);  // no identity code in errors
  CHECK_FALSE(cache.Active(Code(1)).value().has_value());
  REQUIRE(cache.Refresh({Code(1), Code(2)}).ok());
  CHECK(cache.Active(Code(1)).value() == std::optional<bool>(true));
}

TEST_CASE("dispatch through the Suomi.fi double: Suomi.fi for active mailboxes, the next channel otherwise",
          "[mailbox][suomifi]") {
  Fixture f(4);
  // Residents 1..4 have codes 900..903: child 1 and three recipients; 902 (resident 3) has no
  // active mailbox but a phone.
  REQUIRE(f.db->Exec("UPDATE residents SET phone = '+358500000009' WHERE id = 3").ok());
  MailboxStatusCache cache(*f.db, f.clock, f.Check());
  struct Recorder : Channel {
    std::string_view name() const override { return "sms"; }
    bool idempotent() const override { return false; }
    std::string CannotReach(const Recipient& r) const override { return r.phone ? "" : "no phone"; }
    SendOutcome Send(const OutgoingMessage& m) override {
      std::lock_guard lock(mu);
      ids.push_back(m.outbox_id);
      return SendOutcome::Sent();
    }
    std::mutex mu;
    std::vector<int64_t> ids;
  } sms;
  Diagnostics diags;
  auto sources = LoadRuleSources(ENNAKKO_SOURCE_ROOT "/rules", diags);
  REQUIRE(sources.ok());
  std::vector<std::pair<std::string, nlohmann::json>> audit;
  Dispatcher d({}, *f.db, f.clock, {{"suomifi", f.channel.get()}, {"sms", &sms}},
               [&](std::string_view t, const nlohmann::json& j) { audit.emplace_back(std::string(t), j); },
               [](std::string_view) { return std::string("pseudo"); });
  d.SetRules(RuleSet::Compile(*sources).value());
  d.SetMailboxStatus(&cache);
  Outbox outbox(*f.db, f.clock);
  for (int r : {2, 3, 4}) {
    REQUIRE(outbox.Enqueue({"preschool-offer", 1, r, "2026", 0, "fi",
                            OfferKey("preschool-offer", Code(0), Code(r - 1), "2026")}).value() > 0);
  }
  std::atomic<bool> stop{false};
  auto stats = d.DrainOnce(stop);
  REQUIRE(stats.ok());
  CHECK(f.fake.stats().mailbox_requests == 1);
  auto messages = f.fake.messages();
  REQUIRE(messages.size() == 2);  // 901 and 903 through Suomi.fi
  std::set<std::string> got = {messages[0].recipient_id, messages[1].recipient_id};
  CHECK(got == std::set<std::string>{Code(1), Code(3)});
  CHECK(sms.ids.size() == 1);  // 902 has no mailbox but a phone
  CHECK(stats->sent == 3);
}
