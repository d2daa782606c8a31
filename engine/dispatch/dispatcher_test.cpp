#include "engine/dispatch/dispatcher.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <set>

#include <catch2/catch.hpp>

#include "engine/dispatch/service_pauses.h"
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
  bool marks_handover() const override { return marks_handover_; }
  std::optional<chr::seconds> receipt_within() const override { return receipt_within_; }
  std::string CannotReach(const Recipient& r) const override {
    return needs_phone_ && !r.phone ? "no phone" : "";
  }
  SendOutcome Send(const OutgoingMessage& m) override {
    std::lock_guard lock(mu);
    if (marks_handover_ && m.handover && !m.handover()) return SendOutcome::Transient("hand-over not recorded");
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
  bool marks_handover_ = false;
  std::optional<chr::seconds> receipt_within_;

 private:
  std::string name_;
  bool idempotent_, needs_phone_;
};

// A timeout after the hand-over: the gateway may have the message (SendOutcome::ambiguous).
SendOutcome AmbiguousTimeout() {
  SendOutcome o = SendOutcome::Transient("read: timed out");
  o.ambiguous = true;
  return o;
}

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

TEST_CASE("the recipient's postal address reaches the channel, never a protected one", "[dispatch]") {
  Fixture f;
  REQUIRE(f.db->Exec(R"(
    UPDATE residents SET last_name = 'Lind', street_address = 'Testgatan 9', postal_code = '00990',
      post_office = 'HELSINGFORS' WHERE id = 2;
    UPDATE residents SET street_address = 'Salainen 1', postal_code = '00100', post_office = 'HELSINKI',
      address_protected = 1 WHERE id = 4;)").ok());
  f.Enqueue(2, "sv");
  f.Enqueue(4, "de");
  REQUIRE(f.dispatcher->DrainOnce(f.stop)->sent == 2);
  REQUIRE(f.file.sent.size() == 1);
  const Recipient& erik = f.file.sent[0].recipient;
  REQUIRE(erik.postal_address);
  CHECK(erik.postal_address->name == "Erik Lind");
  CHECK(erik.postal_address->street_address == "Testgatan 9");
  CHECK(erik.postal_address->zip_code == "00990");
  CHECK(erik.postal_address->city == "HELSINGFORS");
  CHECK(erik.postal_address->country_code == "FI");
  CHECK(PaperBlocked(erik).empty());
  REQUIRE(f.sms.sent.size() == 1);
  const Recipient& john = f.sms.sent[0].recipient;
  CHECK(john.address_protected);
  CHECK_FALSE(john.postal_address);  // even though the row (wrongly) holds one
  CHECK(PaperBlocked(john) == "address protected");
}

TEST_CASE("a language without templates falls back to Finnish", "[dispatch]") {
  auto rules = ShippedRules();
  const RuleSpec& preschool = *std::find_if(rules->sources().rules.begin(), rules->sources().rules.end(),
                                            [](const RuleSpec& r) { return r.service == "preschool-offer"; });
  auto m = RenderMessage(preschool, "de", {{"child_first_name", "X"}, {"period", "2026"}});
  CHECK(m.language == "fi");
  auto en = RenderMessage(preschool, "en", {{"child_first_name", "X"}, {"period", "2026"}, {"reply_code", "B"}});
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

TEST_CASE("after a crash, a hand-over decides: handed over counts as sent, unconfirmed; not handed over goes again",
          "[dispatch][crash]") {
  Fixture f;
  f.sms.marks_handover_ = true;
  int64_t handed = f.Enqueue(1, "fi");
  int64_t not_yet = f.Enqueue(4, "de");
  Outbox outbox(*f.db, f.clock);
  auto claimed = outbox.ClaimDue(10, [](const ClaimedOffer&) { return ChannelChoice{"sms", ""}; });
  REQUIRE(claimed->size() == 2);
  // The process dies after the first message's hand-over was recorded, before any answer.
  REQUIRE(outbox.MarkHandedOver(handed, "sms").ok());
  CHECK(f.dispatcher->Recover().value() == 0);  // nothing in doubt
  CHECK(f.State(handed) == "sent");
  CHECK(f.State(not_yet) == "queued");
  auto st = f.db->Prepare("SELECT last_error FROM outbox WHERE id = ?");
  st->Bind(1, handed);
  REQUIRE(st->Step().value());
  CHECK(st->Text(0).rfind("unconfirmed:", 0) == 0);
  // The next drain sends only the one that never left, and records its hand-over first.
  REQUIRE(f.dispatcher->DrainOnce(f.stop)->sent == 1);
  REQUIRE(f.sms.sent.size() == 1);
  CHECK(f.sms.sent[0].outbox_id == not_yet);
  auto h = f.db->Prepare("SELECT handed_over_at IS NOT NULL FROM outbox WHERE id = ?");
  h->Bind(1, not_yet);
  REQUIRE(h->Step().value());
  CHECK(h->Int(0) == 1);
}

TEST_CASE("an ambiguous failure after the hand-over is never sent again on a channel without idempotency",
          "[dispatch][crash]") {
  Fixture f;
  f.sms.marks_handover_ = true;
  const SendOutcome timeout = AmbiguousTimeout();
  f.sms.script = {timeout};
  int64_t id = f.Enqueue(1, "fi");
  auto stats = f.dispatcher->DrainOnce(f.stop);
  REQUIRE(stats.ok());
  CHECK(stats->sent == 1);
  CHECK(stats->retried == 0);
  CHECK(f.State(id) == "sent");
  f.clock.Advance(chr::hours(1));
  REQUIRE(f.dispatcher->DrainOnce(f.stop)->claimed == 0);
  CHECK(f.sms.sent.size() == 1);
  // The same failure before the hand-over (not ambiguous) is retried as usual.
  Fixture g;
  g.sms.marks_handover_ = true;
  g.sms.script = {SendOutcome::Transient("connect: refused")};
  int64_t other = g.Enqueue(1, "fi");
  REQUIRE(g.dispatcher->DrainOnce(g.stop)->retried == 1);
  CHECK(g.State(other) == "queued");
}

TEST_CASE("reply codes are short and unambiguous", "[dispatch]") {
  CHECK(ReplyCode(0) == "A");
  CHECK(ReplyCode(31) == "9");
  CHECK(ReplyCode(32) == "BA");
  CHECK(ReplyCode(123456).find_first_of("IO01") == std::string::npos);
}

namespace {
int CountAudit(const Fixture& f, std::string_view type) {
  int n = 0;
  for (const auto& [t, fields] : f.audit) n += t == type;
  return n;
}
int64_t Attempts(Fixture& f, int64_t id) {
  auto st = f.db->Prepare("SELECT attempts FROM outbox WHERE id = ?");
  st->Bind(1, id);
  REQUIRE(st->Step().value());
  return st->Int(0);
}
}  // namespace

TEST_CASE("a send cut off after the hand-over on a channel with delivery reports waits for one, else goes again",
          "[dispatch][crash]") {
  Fixture f;
  f.sms.marks_handover_ = true;
  f.sms.receipt_within_ = chr::seconds(60);
  int64_t reported = f.Enqueue(1, "fi");  // Kannel had it: its report comes
  int64_t lost = f.Enqueue(4, "de");      // killed between the record and the last byte: never left
  Outbox outbox(*f.db, f.clock);
  auto claimed = outbox.ClaimDue(10, [](const ClaimedOffer&) { return ChannelChoice{"sms", ""}; });
  REQUIRE(claimed->size() == 2);
  REQUIRE(outbox.MarkHandedOver(reported, "sms").ok());
  REQUIRE(outbox.MarkHandedOver(lost, "sms").ok());
  CHECK(f.dispatcher->Recover().value() == 0);
  CHECK(f.State(reported) == "sent");
  CHECK(f.State(lost) == "sent");
  REQUIRE(CountAudit(f, "offer.recovered") == 1);
  for (const auto& [t, fields] : f.audit) {
    if (t == "offer.recovered") CHECK(fields.at("awaiting_receipt") == 2);
  }
  // Within the wait nothing goes out again.
  f.clock.Advance(chr::seconds(59));
  REQUIRE(f.dispatcher->DrainOnce(f.stop)->claimed == 0);
  // The SMS centre's acceptance of the first one is reported (any Kannel report proves it).
  REQUIRE(outbox.ConfirmReceipt(reported).ok());
  f.clock.Advance(chr::seconds(2));
  auto stats = f.dispatcher->DrainOnce(f.stop);
  REQUIRE(stats.ok());
  CHECK(stats->sent == 1);
  REQUIRE(f.sms.sent.size() == 1);
  CHECK(f.sms.sent[0].outbox_id == lost);  // only the one no report speaks for
  CHECK(f.State(reported) == "sent");
  CHECK(f.State(lost) == "sent");
  REQUIRE(CountAudit(f, "offer.resent_unconfirmed") == 1);
  for (const auto& [t, fields] : f.audit) {
    if (t == "offer.resent_unconfirmed") CHECK(fields.at("offers") == nlohmann::json::array({lost}));
  }
  // A report that comes before the recovery (Kannel retried it while the daemon was starting) is
  // kept: that offer never waits for another.
  int64_t early = f.Enqueue(2, "sv");
  REQUIRE(f.db->Exec("UPDATE residents SET phone = '+358500000002' WHERE id = 2").ok());
  auto again = outbox.ClaimDue(10, [](const ClaimedOffer&) { return ChannelChoice{"sms", ""}; });
  REQUIRE(again->size() == 1);
  REQUIRE(outbox.MarkHandedOver(early, "sms").ok());
  REQUIRE(outbox.ConfirmReceipt(early).ok());
  CHECK(f.dispatcher->Recover().value() == 0);
  CHECK(f.State(early) == "sent");
  // Answered this time: confirmed by the gateway, nothing waits any more.
  f.clock.Advance(chr::hours(1));
  REQUIRE(f.dispatcher->DrainOnce(f.stop)->claimed == 0);
  CHECK(f.sms.sent.size() == 1);
  auto st = f.db->Prepare("SELECT count(*) FROM outbox WHERE confirm_by IS NOT NULL");
  REQUIRE(st->Step().value());
  CHECK(st->Int(0) == 0);
}

TEST_CASE("an SMS is sent again at most once without a report; a late report stops the resend",
          "[dispatch][crash]") {
  Fixture f;
  f.sms.marks_handover_ = true;
  f.sms.receipt_within_ = chr::seconds(60);
  const SendOutcome timeout = AmbiguousTimeout();
  f.sms.script = {timeout, timeout, timeout};
  int64_t silent = f.Enqueue(1, "fi");  // reports never reach us
  int64_t late = f.Enqueue(4, "de");    // its report comes after the resend was queued
  REQUIRE(f.dispatcher->DrainOnce(f.stop)->sent == 2);
  // The deadline passes while quiet hours hold the resends: both are queued again, not sent yet.
  f.clock.Advance(chr::seconds(61));
  Outbox outbox(*f.db, f.clock);
  auto u = outbox.ResendUnconfirmed();
  REQUIRE(u.ok());
  CHECK(u->resent == std::vector<int64_t>{silent, late});
  CHECK(f.State(late) == "queued");
  REQUIRE(outbox.ConfirmReceipt(late).ok());  // Kannel had it after all
  CHECK(f.State(late) == "sent");
  // The drain resends only the silent one, and it times out again.
  REQUIRE(f.dispatcher->DrainOnce(f.stop)->sent == 1);
  REQUIRE(f.sms.sent.size() == 3);
  CHECK(f.sms.sent[2].outbox_id == silent);
  // Still no report: not a third time — held for an operator.
  f.clock.Advance(chr::seconds(61));
  REQUIRE(f.dispatcher->DrainOnce(f.stop)->claimed == 0);
  CHECK(f.State(silent) == "in_doubt");
  CHECK(f.sms.sent.size() == 3);
  CHECK(CountAudit(f, "offer.in_doubt") == 1);
}

TEST_CASE("a report deadline that passed while the daemon was down starts again at the restart",
          "[dispatch][crash]") {
  Fixture f;
  f.sms.marks_handover_ = true;
  f.sms.receipt_within_ = chr::seconds(60);
  const SendOutcome timeout = AmbiguousTimeout();
  f.sms.script = {timeout};
  int64_t id = f.Enqueue(1, "fi");
  REQUIRE(f.dispatcher->DrainOnce(f.stop)->sent == 1);
  f.clock.Advance(chr::hours(2));  // down for two hours
  REQUIRE(f.dispatcher->Recover().ok());
  REQUIRE(f.dispatcher->DrainOnce(f.stop)->claimed == 0);  // Kannel gets its retries first
  CHECK(f.State(id) == "sent");
  REQUIRE(Outbox(*f.db, f.clock).ConfirmReceipt(id).ok());
  f.clock.Advance(chr::seconds(61));
  REQUIRE(f.dispatcher->DrainOnce(f.stop)->claimed == 0);
  CHECK(f.sms.sent.size() == 1);
}

TEST_CASE("an ambiguous answer on a channel with delivery reports is sent again only when no report comes",
          "[dispatch][crash]") {
  Fixture f;
  f.sms.marks_handover_ = true;
  f.sms.receipt_within_ = chr::seconds(300);
  const SendOutcome timeout = AmbiguousTimeout();
  f.sms.script = {timeout, timeout};
  int64_t id = f.Enqueue(1, "fi");
  int64_t other = f.Enqueue(4, "de");
  REQUIRE(f.dispatcher->DrainOnce(f.stop)->sent == 2);
  // A delivered report for one of them (it also clears the wait).
  REQUIRE(Outbox(*f.db, f.clock).ConfirmReceipt(id).ok());
  f.clock.Advance(chr::seconds(301));
  REQUIRE(f.dispatcher->DrainOnce(f.stop)->sent == 1);
  REQUIRE(f.sms.sent.size() == 3);
  CHECK(f.sms.sent[2].outbox_id == other);
  f.clock.Advance(chr::hours(1));
  REQUIRE(f.dispatcher->DrainOnce(f.stop)->claimed == 0);
}

TEST_CASE("the choice and every skipped channel are audited with reasons, pseudonyms only", "[dispatch][choice]") {
  Fixture f;
  f.Enqueue(2, "sv");  // no phone: suomifi is not configured here, sms cannot reach, file can
  REQUIRE(f.dispatcher->DrainOnce(f.stop)->sent == 1);
  const nlohmann::json* sent = nullptr;
  for (const auto& [t, fields] : f.audit) if (t == "offer.sent") sent = &fields;
  REQUIRE(sent);
  CHECK((*sent)["channel"] == "file");
  CHECK((*sent)["recipient"] == "p-02");  // the pseudonym, not the identity code
  CHECK((*sent)["skipped"] == nlohmann::json::parse(
      R"([{"channel":"suomifi","reason":"not configured"},{"channel":"sms","reason":"no phone"},)"
      R"({"channel":"email","reason":"not configured"}])"));
  CHECK(sent->dump().find("020290") == std::string::npos);
}

TEST_CASE("at 22:00 Helsinki an SMS offer is held until 08:00, not failed and not sent elsewhere", "[dispatch][quiet]") {
  Fixture f;
  f.clock.Set(chr::sys_days{chr::year{2026} / 11 / 22} + chr::hours{20});  // 22:00 EET
  int64_t sms_offer = f.Enqueue(1, "fi");  // has a phone: sms is the first reachable channel
  int64_t file_offer = f.Enqueue(2, "sv");  // no phone: file, which has no quiet hours
  auto stats = f.dispatcher->DrainOnce(f.stop);
  CHECK(stats->held == 1);
  CHECK(stats->sent == 1);
  CHECK(f.sms.sent.empty());
  CHECK(f.file.sent.size() == 1);  // only the other recipient's
  CHECK(f.State(sms_offer) == "queued");
  CHECK(f.State(file_offer) == "sent");
  CHECK(Attempts(f, sms_offer) == 0);  // waiting is not an attempt
  CHECK(CountAudit(f, "offer.held") == 1);
  // Still night at 07:59: nothing due.
  f.clock.Set(chr::sys_days{chr::year{2026} / 11 / 23} + chr::hours{5} + chr::minutes{59});
  CHECK(f.dispatcher->DrainOnce(f.stop)->claimed == 0);
  f.clock.Set(chr::sys_days{chr::year{2026} / 11 / 23} + chr::hours{6});  // 08:00 EET
  CHECK(f.dispatcher->DrainOnce(f.stop)->sent == 1);
  CHECK(f.sms.sent.size() == 1);
  CHECK(f.State(sms_offer) == "sent");
}

TEST_CASE("a channel's token bucket spreads its sends; the others wait, not fail", "[dispatch][bucket]") {
  auto options = Fixture::Options();
  options.rate_limits["sms"] = {.per_second = 1, .burst = 1};
  Fixture f(options);
  REQUIRE(f.db->Exec("UPDATE residents SET phone = '+358500000002' WHERE id = 2").ok());
  int64_t a = f.Enqueue(1, "fi");
  int64_t b = f.Enqueue(2, "sv");
  int64_t c = f.Enqueue(4, "en");
  auto stats = f.dispatcher->DrainOnce(f.stop);
  CHECK(stats->sent == 1);
  CHECK(stats->held == 2);
  CHECK(f.file.sent.empty());  // held for a token, not moved to the file channel
  CHECK(f.State(a) == "sent");
  f.clock.Advance(chr::milliseconds(1000));
  CHECK(f.dispatcher->DrainOnce(f.stop)->sent == 1);
  CHECK(f.State(b) == "sent");
  CHECK(f.State(c) == "queued");
  f.clock.Advance(chr::milliseconds(1000));
  CHECK(f.dispatcher->DrainOnce(f.stop)->sent == 1);
  CHECK(f.State(c) == "sent");
  CHECK(f.sms.sent.size() == 3);
  CHECK(Attempts(f, c) == 1);
}

TEST_CASE("an open circuit holds the channel's offers without using attempts, then a probe closes it",
          "[dispatch][breaker]") {
  auto options = Fixture::Options();
  options.workers = 1;
  options.max_attempts = 10;
  options.circuit_breaker = {.failure_threshold = 2, .cool_down = chr::seconds(60)};
  Fixture f(options);
  MetricsRegistry metrics;
  f.dispatcher->SetMetrics(&metrics);
  REQUIRE(f.db->Exec("UPDATE residents SET phone = '+358500000002' WHERE id = 2").ok());
  int64_t a = f.Enqueue(1, "fi");
  int64_t b = f.Enqueue(2, "sv");
  int64_t c = f.Enqueue(4, "en");
  f.sms.script = {SendOutcome::Transient("503"), SendOutcome::Transient("503")};
  auto stats = f.dispatcher->DrainOnce(f.stop);  // two failures open the circuit; the third waits
  CHECK(stats->retried == 2);
  CHECK(stats->held == 1);
  CHECK(f.sms.sent.size() == 2);
  CHECK(f.dispatcher->circuit_state("sms") == CircuitBreaker::State::kOpen);
  CHECK(metrics.Get("ennakko_channel_circuit_state", {{"channel", "sms"}}) == 1);
  CHECK(Attempts(f, c) == 0);
  // The retries are due after their backoff (≤ 1 s), but the circuit stays open for 60 s.
  f.clock.Advance(chr::seconds(2));
  stats = f.dispatcher->DrainOnce(f.stop);
  CHECK(stats->held == 2);
  CHECK(f.sms.sent.size() == 2);
  CHECK(Attempts(f, a) == 1);
  CHECK(f.file.sent.empty());
  // After the cool-down one probe goes; it succeeds and the circuit closes, and the rest follow.
  f.clock.Advance(chr::seconds(60));
  stats = f.dispatcher->DrainOnce(f.stop);
  CHECK(stats->sent == 1);
  CHECK(f.dispatcher->circuit_state("sms") == CircuitBreaker::State::kClosed);
  CHECK(metrics.Get("ennakko_channel_circuit_state", {{"channel", "sms"}}) == 0);
  f.clock.Advance(chr::seconds(6));
  stats = f.dispatcher->DrainOnce(f.stop);
  CHECK(stats->sent == 2);
  CHECK(f.State(a) == "sent");
  CHECK(f.State(b) == "sent");
  CHECK(f.State(c) == "sent");
}

TEST_CASE("a paused service's offers stay queued and go after resume", "[dispatch][pause]") {
  Fixture f;
  int64_t id = f.Enqueue(1, "fi");
  ServicePauses pauses(*f.db, f.clock);
  REQUIRE(pauses.Pause("preschool-offer", "test").value());
  auto stats = f.dispatcher->DrainOnce(f.stop);
  CHECK(stats->claimed == 0);
  CHECK(stats->held == 0);
  CHECK(f.State(id) == "queued");
  CHECK(f.sms.sent.empty());
  REQUIRE(pauses.Resume("preschool-offer").value());
  CHECK(f.dispatcher->DrainOnce(f.stop)->sent == 1);
  CHECK(f.State(id) == "sent");
}

namespace {
// A Suomi.fi channel stand-in for choice tests; mailbox status comes from the cache.
struct MailboxFixture : Fixture {
  ScriptedChannel suomifi{"suomifi", true, false};
  std::set<std::string> active = {"010190-998W"};
  bool check_fails = false;
  int checks = 0;
  std::unique_ptr<MailboxStatusCache> cache;
  MailboxFixture() {
    dispatcher = std::make_unique<Dispatcher>(
        Options(), *db, clock, std::map<std::string, Channel*>{{"sms", &sms}, {"file", &file}, {"suomifi", &suomifi}},
        [this](std::string_view type, const nlohmann::json& fl) { audit.emplace_back(std::string(type), fl); },
        [](std::string_view code) { return "p-" + std::string(code.substr(0, 2)); });
    dispatcher->SetRules(ShippedRules());
    cache = std::make_unique<MailboxStatusCache>(
        *db, clock,
        [this](const std::vector<std::string>& ids) -> Result<std::vector<std::string>> {
          ++checks;
          if (check_fails) return Status::Unavailable("suomifi 503");
          std::vector<std::string> out;
          for (const auto& id : ids) if (active.contains(id)) out.push_back(id);
          return out;
        },
        MailboxStatusOptions{.max_age = chr::hours(24)});
    dispatcher->SetMailboxStatus(cache.get());
  }
};
}  // namespace

TEST_CASE("Suomi.fi is chosen only for an active mailbox, checked once in a batch", "[dispatch][mailbox]") {
  MailboxFixture f;
  int64_t active = f.Enqueue(1, "fi");   // active mailbox
  int64_t inactive = f.Enqueue(4, "en"); // none: falls to sms
  auto stats = f.dispatcher->DrainOnce(f.stop);
  CHECK(stats->sent == 2);
  CHECK(f.checks == 1);
  REQUIRE(f.suomifi.sent.size() == 1);
  CHECK(f.suomifi.sent[0].outbox_id == active);
  REQUIRE(f.sms.sent.size() == 1);
  CHECK(f.sms.sent[0].outbox_id == inactive);
  bool skipped_with_reason = false;
  for (const auto& [t, fl] : f.audit) {
    if (t == "offer.sent" && fl["offer"] == inactive) {
      skipped_with_reason = fl["skipped"][0] == nlohmann::json{{"channel", "suomifi"}, {"reason", "no active Suomi.fi mailbox"}};
    }
  }
  CHECK(skipped_with_reason);
}

TEST_CASE("when the mailbox check fails the offer waits instead of skipping Suomi.fi", "[dispatch][mailbox]") {
  MailboxFixture f;
  f.check_fails = true;
  int64_t id = f.Enqueue(1, "fi");
  auto stats = f.dispatcher->DrainOnce(f.stop);
  CHECK(stats->held == 1);
  CHECK(stats->sent == 0);
  CHECK(f.sms.sent.empty());  // not silently sent by SMS
  CHECK(f.suomifi.sent.empty());
  CHECK(f.State(id) == "queued");
  CHECK(Attempts(f, id) == 0);
  // Not retried before mailbox_retry (60 s); then the check works and Suomi.fi is used.
  f.clock.Advance(chr::seconds(30));
  CHECK(f.dispatcher->DrainOnce(f.stop)->claimed == 0);
  f.check_fails = false;
  f.clock.Advance(chr::seconds(30));
  CHECK(f.dispatcher->DrainOnce(f.stop)->sent == 1);
  CHECK(f.suomifi.sent.size() == 1);
}

TEST_CASE("a cached status is reused until it is stale; MAILBOX_NOT_IN_USE updates it", "[dispatch][mailbox]") {
  MailboxFixture f;
  f.Enqueue(1, "fi");
  REQUIRE(f.dispatcher->DrainOnce(f.stop).ok());
  CHECK(f.checks == 1);
  // A second offer to the same recipient within the freshness limit: no new check.
  Outbox outbox(*f.db, f.clock);
  auto second = outbox.Enqueue({"preschool-offer", 3, 1, "2027", 0, "fi",
                                OfferKey("preschool-offer", "050520A998N", "010190-998W", "2027")}).value();
  f.suomifi.script = {SendOutcome::Permanent("no active Suomi.fi mailbox")};
  REQUIRE(f.dispatcher->DrainOnce(f.stop).ok());
  CHECK(f.checks == 1);
  CHECK(f.State(second) == "sent");
  CHECK(f.sms.sent.size() == 1);  // fell back after Suomi.fi refused
  CHECK(f.cache->Active("010190-998W").value() == std::optional<bool>(false));
  // After max_age the status is stale and asked again.
  f.clock.Advance(chr::hours(25));
  CHECK_FALSE(f.cache->Active("010190-998W").value().has_value());
  CHECK(f.cache->Refresh({"010190-998W"})->asked == 1);
  CHECK(f.checks == 2);
  CHECK(f.cache->Active("010190-998W").value() == std::optional<bool>(true));
}

TEST_CASE("a mailbox check stores its answers though another connection wrote during the call",
          "[dispatch][mailbox]") {
  // Delivery reports and consents write through their own connections while the dispatcher asks
  // Suomi.fi; the answers must still be stored (they were refused: "database is locked").
  const std::string dir = (std::filesystem::temp_directory_path() /
                           ("ennakko-mailbox-test-" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/store.db";
  auto db = OpenStore({.path = path}).value();
  auto other = OpenStore({.path = path}).value();
  REQUIRE(db->Exec("INSERT INTO residents (id, hetu, language, updated_at) VALUES "
                   "(1, '010190-998W', 'fi', 'x'), (2, '020290-998U', 'sv', 'x')").ok());
  FakeClock clock{chr::sys_days{chr::year{2026} / 11 / 22} + chr::hours{8}};
  int writes = 0;
  MailboxStatusCache cache(
      *db, clock,
      [&](const std::vector<std::string>& ids) -> Result<std::vector<std::string>> {
        REQUIRE(other->Exec("UPDATE residents SET updated_at = 'y' WHERE id = 2").ok());
        ++writes;
        return std::vector<std::string>{ids.front()};
      },
      MailboxStatusOptions{.max_age = chr::hours(24)});
  auto refreshed = cache.Refresh({"010190-998W", "020290-998U"});
  REQUIRE(refreshed.ok());
  CHECK(writes == 1);
  CHECK(refreshed->asked == 2);
  CHECK(cache.Active("010190-998W").value() == std::optional<bool>(true));
  CHECK(cache.Active("020290-998U").value() == std::optional<bool>(false));
  db.reset();
  other.reset();
  std::filesystem::remove_all(dir);
}
