#include "engine/dispatch/dispatcher.h"

#include <mutex>

#include <catch2/catch.hpp>

#include "engine/store/migrations.h"

using namespace ennakko;
namespace chr = std::chrono;

namespace {

// A channel that records what it was asked to send and answers from a script.
class ScriptedChannel : public Channel {
 public:
  ScriptedChannel(std::string name, bool idempotent, bool needs_phone)
      : name_(std::move(name)), idempotent_(idempotent), needs_phone_(needs_phone) {}
  std::string_view name() const override { return name_; }
  bool idempotent() const override { return idempotent_; }
  std::string CannotReach(const Recipient& r) const override {
    return needs_phone_ && !r.phone ? "no phone" : "";
  }
  SendOutcome Send(const OutgoingMessage& m) override {
    std::lock_guard lock(mu);
    sent.push_back(m);
    if (!script.empty()) {
      SendOutcome o = script.front();
      script.erase(script.begin());
      return o;
    }
    return SendOutcome::Sent("ref-" + std::to_string(m.outbox_id));
  }
  std::mutex mu;
  std::vector<OutgoingMessage> sent;
  std::vector<SendOutcome> script;

 private:
  std::string name_;
  bool idempotent_, needs_phone_;
};

std::shared_ptr<const RuleSet> ShippedRules() {
  Diagnostics diags;
  auto sources = LoadRuleSources(ENNAKKO_SOURCE_ROOT "/rules", diags);
  REQUIRE(sources.ok());
  return RuleSet::Compile(*sources).value();
}

struct Fixture {
  std::unique_ptr<Db> db = OpenStore({.path = ":memory:"}).value();
  FakeClock clock{chr::sys_days{chr::year{2026} / 11 / 22} + chr::hours{8}};
  ScriptedChannel sms{"sms", false, true};
  ScriptedChannel file{"file", true, false};
  std::vector<std::pair<std::string, nlohmann::json>> audit;
  std::unique_ptr<Dispatcher> dispatcher;
  std::atomic<bool> stop{false};

  static DispatcherOptions Options() {
    DispatcherOptions o;
    o.batch_size = 10;
    o.workers = 2;
    o.max_attempts = 3;
    o.initial_backoff = chr::milliseconds(1000);
    o.max_backoff = chr::milliseconds(8000);
    return o;
  }
  explicit Fixture(DispatcherOptions options = Options()) {
    REQUIRE(db->Exec(R"(
      INSERT INTO residents (id, hetu, first_names, language, phone, updated_at) VALUES
        (1, '010190-998W', 'Aino', 'fi', '+358500000001', 'x'),
        (2, '020290-998U', 'Erik', 'sv', NULL, 'x'),
        (3, '050520A998N', 'Lumi Maria', 'fi', NULL, 'x'),
        (4, '030390-998X', 'John', 'de', '+358500000004', 'x');)").ok());
    dispatcher = std::make_unique<Dispatcher>(
        options, *db, clock, std::map<std::string, Channel*>{{"sms", &sms}, {"file", &file}},
        [this](std::string_view type, const nlohmann::json& f) { audit.emplace_back(std::string(type), f); },
        [](std::string_view code) { return "p-" + std::string(code.substr(0, 2)); });
    dispatcher->SetRules(ShippedRules());
  }
  int64_t Enqueue(int64_t recipient, const char* lang) {
    Outbox outbox(*db, clock);
    std::string code = recipient == 1 ? "010190-998W" : recipient == 2 ? "020290-998U" : "030390-998X";
    return outbox.Enqueue({"preschool-offer", 3, recipient, "2026", 0, lang,
                           OfferKey("preschool-offer", "050520A998N", code, "2026")}).value();
  }
  std::string State(int64_t id) {
    auto st = db->Prepare("SELECT state FROM outbox WHERE id = ?");
    st->Bind(1, id);
    REQUIRE(st->Step().value());
    return st->Text(0);
  }
};

}  // namespace

TEST_CASE("the idempotency key depends only on service, subject, recipient and period", "[dispatch]") {
  auto k = OfferKey("preschool-offer", "050520A998N", "010190-998W", "2026");
  CHECK(k == OfferKey("preschool-offer", "050520A998N", "010190-998W", "2026"));
  CHECK(k.size() == 64);
  CHECK(k != OfferKey("preschool-offer", "050520A998N", "010190-998W", "2027"));
  CHECK(k != OfferKey("preschool-offer", "050520A998N", "020290-998U", "2026"));
  CHECK(k != OfferKey("school-offer", "050520A998N", "010190-998W", "2026"));
  // Field boundaries matter: ("ab","c") and ("a","bc") are different offers.
  CHECK(OfferKey("s", "ab", "c", "p") != OfferKey("s", "a", "bc", "p"));
}

TEST_CASE("an offer is enqueued once, sent once, in the recipient's language", "[dispatch]") {
  Fixture f;
  int64_t id = f.Enqueue(1, "fi");
  REQUIRE(id > 0);
  CHECK(f.Enqueue(1, "fi") == 0);  // same key: no second row
  int64_t sv = f.Enqueue(2, "sv");
  auto stats = f.dispatcher->DrainOnce(f.stop);
  REQUIRE(stats.ok());
  CHECK(stats->sent == 2);
  REQUIRE(f.sms.sent.size() == 1);  // guardian 1 has a phone
  CHECK(f.sms.sent[0].body.find("Hei! Helsingin kaupunki tarjoaa lapsellenne Lumi esiopetuspaikkaa vuodelle 2026") == 0);
  REQUIRE(f.file.sent.size() == 1);  // guardian 2 has none: the rule's next channel
  CHECK(f.file.sent[0].body.find("Hej! Helsingfors stad") == 0);
  CHECK(f.State(id) == "sent");
  CHECK(f.State(sv) == "sent");
  // Nothing is due any more: a second drain sends nothing.
  CHECK(f.dispatcher->DrainOnce(f.stop)->claimed == 0);
  CHECK(f.sms.sent.size() == 1);
}

TEST_CASE("a language without templates falls back to Finnish", "[dispatch]") {
  auto rules = ShippedRules();
  auto m = RenderMessage(rules->sources().rules[0], "de", {{"child_first_name", "X"}, {"period", "2026"}});
  CHECK(m.language == "fi");
  auto en = RenderMessage(rules->sources().rules[0], "en", {{"child_first_name", "X"}, {"period", "2026"}, {"reply_code", "B"}});
  CHECK(en.body.find("Reply YES B or NO B") != std::string::npos);
  CHECK(en.body.find("{{") == std::string::npos);
}

TEST_CASE("transient failures retry with backoff, then give up", "[dispatch]") {
  Fixture f;
  int64_t id = f.Enqueue(1, "fi");
  f.sms.script = {SendOutcome::Transient("503"), SendOutcome::Transient("timeout"), SendOutcome::Transient("503")};
  CHECK(f.dispatcher->DrainOnce(f.stop)->retried == 1);
  CHECK(f.State(id) == "queued");
  // Not due before the backoff has passed.
  CHECK(f.dispatcher->DrainOnce(f.stop)->claimed == 0);
  f.clock.Advance(chr::seconds(1));
  CHECK(f.dispatcher->DrainOnce(f.stop)->retried == 1);
  f.clock.Advance(chr::seconds(2));
  CHECK(f.dispatcher->DrainOnce(f.stop)->failed == 1);  // third attempt = max_attempts
  CHECK(f.State(id) == "failed");
  CHECK(f.sms.sent.size() == 3);
  auto st = f.db->Prepare("SELECT count(*) FROM deliveries WHERE outbox_id = ?");
  st->Bind(1, id);
  REQUIRE(st->Step().value());
  CHECK(st->Int(0) == 3);
}

TEST_CASE("a permanent failure falls back to the next channel", "[dispatch]") {
  Fixture f;
  int64_t id = f.Enqueue(1, "fi");
  f.sms.script = {SendOutcome::Permanent("403 Authorization failed")};
  auto stats = f.dispatcher->DrainOnce(f.stop);
  CHECK(stats->sent == 1);
  CHECK(f.State(id) == "sent");
  CHECK(f.file.sent.size() == 1);
  bool audited = false;
  for (const auto& [type, fields] : f.audit) audited |= type == "offer.channel_failed" && fields["channel"] == "sms";
  CHECK(audited);
}

TEST_CASE("a stop request leaves unattempted offers queued", "[dispatch]") {
  Fixture f;
  int64_t id = f.Enqueue(1, "fi");
  f.stop = true;
  auto stats = f.dispatcher->DrainOnce(f.stop);
  CHECK(stats->unclaimed == 1);
  CHECK(f.State(id) == "queued");
  CHECK(f.sms.sent.empty());
}

TEST_CASE("after a crash, sends in flight are re-queued only on idempotent channels", "[dispatch]") {
  Fixture f;
  int64_t sms_offer = f.Enqueue(1, "fi");
  int64_t file_offer = f.Enqueue(2, "sv");
  // Simulate a crash after the claim: both rows are left in `sending` with their channel.
  Outbox outbox(*f.db, f.clock);
  auto claimed = outbox.ClaimDue(10, [](const ClaimedOffer& o) {
    return ChannelChoice{o.phone ? "sms" : "file", ""};
  });
  REQUIRE(claimed->size() == 2);
  CHECK(f.State(sms_offer) == "sending");
  CHECK(f.dispatcher->Recover().value() == 1);
  CHECK(f.State(sms_offer) == "in_doubt");  // an SMS may have left: never sent twice
  CHECK(f.State(file_offer) == "queued");   // the file channel is idempotent
}

TEST_CASE("reply codes are short and unambiguous", "[dispatch]") {
  CHECK(ReplyCode(0) == "A");
  CHECK(ReplyCode(31) == "9");
  CHECK(ReplyCode(32) == "BA");
  CHECK(ReplyCode(123456).find_first_of("IO01") == std::string::npos);
}
