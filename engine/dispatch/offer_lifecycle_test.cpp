#include "engine/dispatch/offer_lifecycle.h"

#include "engine/dispatch/replies_test_util.h"

using namespace ennakko;
using namespace ennakko::testing;
namespace chr = std::chrono;

TEST_CASE("the state machine allows the issue's transitions and refuses the rest", "[replies]") {
  using S = OfferState;
  using E = OfferEvent;
  struct Case {
    S from;
    E event;
    std::optional<S> to;  // nullopt: refused
  };
  const Case cases[] = {
      {S::kSent, E::kDelivered, S::kDelivered},       {S::kSent, E::kNotDelivered, S::kFailed},
      {S::kSent, E::kAccept, S::kReplied},            {S::kSent, E::kDecline, S::kReplied},
      {S::kSent, E::kExpire, S::kExpired},            {S::kSent, E::kRemind, S::kReminded},
      {S::kDelivered, E::kRemind, S::kReminded},      {S::kReminded, E::kRemind, S::kReminded},
      {S::kReminded, E::kAccept, S::kReplied},        {S::kReminded, E::kExpire, S::kExpired},
      {S::kDelivered, E::kNotDelivered, S::kFailed},  // paper mail returned to sender
      {S::kInDoubt, E::kDelivered, S::kDelivered},    // the report proves it left
      {S::kInDoubt, E::kAccept, S::kReplied},
      {S::kReplied, E::kDelivered, S::kReplied},      // a late report changes no state
      {S::kExpired, E::kDelivered, S::kExpired},
      // refused
      {S::kReplied, E::kAccept, std::nullopt},        {S::kReplied, E::kDecline, std::nullopt},
      {S::kExpired, E::kAccept, std::nullopt},        {S::kCancelled, E::kAccept, std::nullopt},
      {S::kSending, E::kDelivered, S::kSending},      // early: kept on the row for MarkSent
      {S::kQueued, E::kDelivered, std::nullopt},
      {S::kCancelled, E::kDelivered, std::nullopt},   {S::kFailed, E::kAccept, std::nullopt},
      {S::kReplied, E::kExpire, std::nullopt},        {S::kReplied, E::kRemind, std::nullopt},
      {S::kQueued, E::kExpire, std::nullopt},         {S::kInDoubt, E::kRemind, std::nullopt},
      {S::kReplied, E::kNotDelivered, std::nullopt},  {S::kExpired, E::kRemind, std::nullopt},
  };
  for (const auto& c : cases) {
    INFO(StateName(c.from) << " + " << EventName(c.event));
    auto next = NextState(c.from, c.event);
    if (c.to) {
      REQUIRE(next.ok());
      CHECK(*next == *c.to);
    } else {
      REQUIRE_FALSE(next.ok());
      CHECK(next.status().code() == StatusCode::kFailedPrecondition);
    }
  }
  for (auto s : {S::kQueued, S::kSending, S::kSent, S::kDelivered, S::kReminded, S::kReplied, S::kExpired,
                 S::kFailed, S::kInDoubt, S::kCancelled}) {
    CHECK(ParseOfferState(StateName(s)) == s);
  }
}

TEST_CASE("a delivery report moves a sent offer to delivered once and is audited once", "[replies]") {
  RepliesFixture f;
  int64_t id = f.Offer(1, "sent");
  auto after = f.lifecycle.RecordDelivery(id, DeliveryReport::Delivered("handset", "kannel-dlr"));
  REQUIRE(after.ok());
  CHECK(*after == OfferState::kDelivered);
  CHECK(f.Column(id, "delivery") == "handset");
  CHECK_FALSE(f.Column(id, "delivered_at").empty());
  // A duplicate report: no change, no second audit event.
  CHECK(f.lifecycle.RecordDelivery(id, DeliveryReport::Delivered("handset", "kannel-dlr")).ok());
  int audited = 0;
  for (const auto& [t, fields] : f.audit) audited += t == "offer.delivered";
  CHECK(audited == 1);
  CHECK(f.Count("SELECT count(*) FROM deliveries WHERE status = 'delivered'") == 2);
}

TEST_CASE("a failed delivery records its reason; a report for an unsent offer is refused", "[replies]") {
  RepliesFixture f;
  int64_t id = f.Offer(1, "sent");
  auto after = f.lifecycle.RecordDelivery(id, DeliveryReport::NotDelivered("Posti: returned to sender", "suomifi-events"));
  REQUIRE(after.ok());
  CHECK(f.State(id) == "failed");
  CHECK(f.Column(id, "last_error") == "Posti: returned to sender");
  CHECK(f.Audited("offer.undelivered"));
  int64_t queued = f.Offer(2, "queued");
  auto refused = f.lifecycle.RecordDelivery(queued, DeliveryReport::Delivered("handset", "kannel-dlr"));
  CHECK(refused.status().code() == StatusCode::kFailedPrecondition);
  CHECK(f.State(queued) == "queued");
  CHECK(f.lifecycle.RecordDelivery(9999, DeliveryReport::Delivered("handset", "kannel-dlr")).status().code() == StatusCode::kNotFound);
}

TEST_CASE("an answer sets the outcome once; a second answer is refused", "[replies]") {
  RepliesFixture f;
  int64_t id = f.Offer(1, "delivered");
  auto after = f.lifecycle.RecordAnswer(id, true, "sms");
  REQUIRE(after.ok());
  CHECK(f.State(id) == "replied");
  CHECK(f.Column(id, "outcome") == "accepted");
  CHECK(f.Column(id, "reply_via") == "sms");
  CHECK(f.Count("SELECT count(*) FROM replies WHERE meaning = 'accepted'") == 1);
  REQUIRE(f.Audited("offer.replied"));
  CHECK(f.audit.back().second["recipient"] == "p-01");  // a pseudonym, not the identity code
  auto again = f.lifecycle.RecordAnswer(id, false, "link");
  CHECK(again.status().code() == StatusCode::kFailedPrecondition);
  CHECK(f.Column(id, "outcome") == "accepted");
}

TEST_CASE("reminders after remind_after, then expiry after reply_within (fake clock)", "[replies]") {
  RepliesFixture f;
  // The shipped rule: reply_within 14d, remind_after [7d].
  int64_t id = f.Offer(1, "sent");
  int64_t answered = f.Offer(2, "sent");
  REQUIRE(f.lifecycle.RecordAnswer(answered, true, "sms").ok());
  f.clock.Advance(chr::days(6));
  CHECK(f.lifecycle.RemindAndExpire(f.rule_for)->reminded == 0);
  f.clock.Advance(chr::days(1));
  auto stats = f.lifecycle.RemindAndExpire(f.rule_for);
  REQUIRE(stats.ok());
  CHECK(stats->reminded == 1);
  CHECK(f.State(id) == "reminded");
  CHECK(f.Column(id, "reminders") == "1");
  // The reminder is an outbox row of its own, queued for the normal dispatcher.
  CHECK(f.Count("SELECT count(*) FROM outbox WHERE kind = 'reminder' AND state = 'queued' AND reply_to = " +
                std::to_string(id)) == 1);
  // At most once: another pass the same day or later adds none (the rule has one reminder).
  f.clock.Advance(chr::days(1));
  CHECK(f.lifecycle.RemindAndExpire(f.rule_for)->reminded == 0);
  CHECK(f.Count("SELECT count(*) FROM outbox WHERE kind = 'reminder'") == 1);
  f.clock.Advance(chr::days(6));  // day 14
  stats = f.lifecycle.RemindAndExpire(f.rule_for);
  CHECK(stats->expired == 1);
  CHECK(f.State(id) == "expired");
  CHECK(f.State(answered) == "replied");  // answered offers neither remind nor expire
  // The reminder was never sent: expiry cancels it.
  CHECK(f.Count("SELECT count(*) FROM outbox WHERE kind = 'reminder' AND state = 'cancelled'") == 1);
  CHECK(f.Audited("offer.reminded"));
  CHECK(f.Audited("offer.expired"));
  // Too late to answer now.
  CHECK(f.lifecycle.RecordAnswer(id, true, "sms").status().code() == StatusCode::kFailedPrecondition);
}

TEST_CASE("a shorter day length scales reply_within and remind_after (test-only setting)", "[replies]") {
  RepliesFixture f;
  int64_t id = f.Offer(1, "sent");
  f.clock.Advance(chr::seconds(7));
  CHECK(f.lifecycle.RemindAndExpire(f.rule_for, chr::seconds(1))->reminded == 1);
  f.clock.Advance(chr::seconds(7));
  CHECK(f.lifecycle.RemindAndExpire(f.rule_for, chr::seconds(1))->expired == 1);
  CHECK(f.State(id) == "expired");
}

TEST_CASE("a delivery report that arrives before the send is recorded is not lost", "[replies]") {
  RepliesFixture f;
  int64_t delivered = f.Offer(1, "sending");
  int64_t failed = f.Offer(2, "sending");
  CHECK(*f.lifecycle.RecordDelivery(delivered, DeliveryReport::Delivered("handset", "kannel-dlr")) == OfferState::kSending);
  CHECK(*f.lifecycle.RecordDelivery(failed, DeliveryReport::NotDelivered("DLR 2", "kannel-dlr")) == OfferState::kSending);
  Outbox outbox(*f.db, f.clock);
  REQUIRE(outbox.MarkSent(delivered, "sms", "", 1).ok());
  REQUIRE(outbox.MarkSent(failed, "sms", "", 1).ok());
  CHECK(f.State(delivered) == "delivered");
  CHECK(f.State(failed) == "failed");
  CHECK(f.Column(failed, "last_error") == "DLR 2");
  int64_t plain = f.Offer(1, "sending", 4);
  REQUIRE(outbox.MarkSent(plain, "sms", "", 1).ok());
  CHECK(f.State(plain) == "sent");
}
