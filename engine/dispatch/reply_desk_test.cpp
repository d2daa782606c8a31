#include "engine/dispatch/reply_desk.h"

#include "engine/dispatch/replies_test_util.h"

using namespace ennakko;
using namespace ennakko::testing;
namespace chr = std::chrono;

namespace {
struct DeskFixture : RepliesFixture {
  ReplyDeskOptions options{.link_key = "link-key-for-tests-0123456789abcdef",
                           .link_base_url = "https://ennakko.example.fi/reply",
                           .link_lifetime = chr::hours(24)};
  ReplyDesk desk{options, *db, clock, audit_fn, pseudonym_fn, rule_for};
  std::string Token(int64_t id, LinkAction action = LinkAction::kRespond, chr::hours valid = chr::hours(24)) {
    return SignLinkToken(options.link_key,
                         {id, action, chr::duration_cast<chr::seconds>((clock.Now() + valid).time_since_epoch()).count()});
  }
};
bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("an SMS KYLLÄ from the guardian's phone accepts the only open offer", "[replies]") {
  DeskFixture f;
  int64_t id = f.Offer(1, "delivered");
  std::string answer = f.desk.HandleSms("358500000001", "Kyllä");
  CHECK(Has(answer, "Kiitos! Vastauksenne KYLLÄ on kirjattu: Esiopetuspaikka"));
  CHECK(Has(answer, "Lumi"));
  CHECK(f.State(id) == "replied");
  CHECK(f.Column(id, "outcome") == "accepted");
  // Answering again: no open offer left, and the resident is told so.
  CHECK(Has(f.desk.HandleSms("+358500000001", "EI"), "ei ole avointa tarjousta"));
  CHECK(f.Column(id, "outcome") == "accepted");
}

TEST_CASE("several open offers need the code; the answer says which codes", "[replies]") {
  DeskFixture f;
  int64_t first = f.Offer(2, "sent", 3, "sv");
  int64_t second = f.Offer(2, "sent", 4, "sv");
  std::string answer = f.desk.HandleSms("+358500000002", "JA");
  CHECK(Has(answer, "flera öppna erbjudanden"));  // Erik's language is sv
  CHECK(Has(answer, ReplyCode(first)));
  CHECK(Has(answer, ReplyCode(second)));
  CHECK(f.State(first) == "sent");
  CHECK(f.State(second) == "sent");
  CHECK(f.Count("SELECT count(*) FROM replies WHERE meaning = 'ambiguous'") == 1);
  answer = f.desk.HandleSms("+358500000002", "nej " + ReplyCode(second));
  CHECK(Has(answer, "Ert svar NEJ har registrerats"));
  CHECK(f.Column(second, "outcome") == "declined");
  CHECK(f.State(first) == "sent");
  // A code that is not one of this number's open offers.
  answer = f.desk.HandleSms("+358500000002", "ja ZZZ");
  CHECK(Has(answer, "ZZZ"));
  CHECK(Has(answer, ReplyCode(first)));
}

TEST_CASE("anything else gets a helpful answer, never silence", "[replies]") {
  DeskFixture f;
  int64_t id = f.Offer(1, "sent");
  std::string answer = f.desk.HandleSms("+358500000001", "mitä tämä on?");
  CHECK(Has(answer, "Emme ymmärtäneet"));
  CHECK(Has(answer, "KYLLÄ " + ReplyCode(id)));
  CHECK(f.State(id) == "sent");
  CHECK(Has(f.desk.HandleSms("+358409999999", "kyllä"), "ei ole avointa tarjousta"));  // unknown number
  CHECK(f.Count("SELECT count(*) FROM replies WHERE meaning IN ('unrecognised', 'no_offer')") == 2);
  for (const auto& [type, fields] : f.audit) CHECK(fields.dump().find("+358") == std::string::npos);
}

TEST_CASE("Kannel delivery statuses map to delivery states", "[replies]") {
  DeskFixture f;
  int64_t a = f.Offer(1, "sent");
  int64_t b = f.Offer(2, "sent");
  CHECK(f.desk.HandleDeliveryReport(a, 8).ok());  // accepted by the SMSC: no state change
  CHECK(f.State(a) == "sent");
  CHECK(f.desk.HandleDeliveryReport(a, 4).ok());
  CHECK(f.State(a) == "sent");
  CHECK(f.desk.HandleDeliveryReport(a, 1).ok());
  CHECK(f.State(a) == "delivered");
  CHECK(f.desk.HandleDeliveryReport(a, 8).ok());  // Kannel may report 8 after 1: still delivered
  CHECK(f.State(a) == "delivered");
  CHECK(f.desk.HandleDeliveryReport(b, 16).ok());
  CHECK(f.State(b) == "failed");
  CHECK(Has(f.Column(b, "last_error"), "DLR 16"));
  int64_t c = f.Offer(1, "sent", 4);
  CHECK(f.desk.HandleDeliveryReport(c, 2).ok());
  CHECK(f.State(c) == "failed");
  CHECK(f.desk.HandleDeliveryReport(a, 3).code() == StatusCode::kInvalidArgument);
  CHECK(f.desk.HandleDeliveryReport(999, 1).code() == StatusCode::kNotFound);
}

TEST_CASE("any Kannel delivery report proves the gateway had an unconfirmed SMS", "[replies]") {
  DeskFixture f;
  const std::pair<int64_t, int64_t> pairs[] = {{1, 3}, {1, 4}, {2, 3}, {2, 4}};  // (recipient, subject)
  const int statuses[] = {8, 4, 1, 16};
  for (int k = 0; k < 4; ++k) {
    const int status = statuses[k];
    int64_t id = f.Offer(pairs[k].first, "sent", pairs[k].second);
    REQUIRE(f.db->Exec("UPDATE outbox SET confirm_by = '2026-11-22T09:00:00Z' WHERE id = " + std::to_string(id)).ok());
    CHECK(f.desk.HandleDeliveryReport(id, status).ok());
    CHECK(f.Column(id, "confirm_by").empty());
  }
  int64_t untouched = f.Offer(1, "queued");
  REQUIRE(f.db->Exec("UPDATE outbox SET state = 'sent' WHERE id = " + std::to_string(untouched)).ok());
  REQUIRE(f.db->Exec("UPDATE outbox SET confirm_by = '2026-11-22T09:00:00Z' WHERE id = " + std::to_string(untouched)).ok());
  CHECK(f.desk.HandleDeliveryReport(untouched, 3).code() == StatusCode::kInvalidArgument);
  CHECK_FALSE(f.Column(untouched, "confirm_by").empty());  // an unknown status proves nothing
}

TEST_CASE("a signed link: GET changes nothing, POST records, a used link is refused", "[replies]") {
  DeskFixture f;
  int64_t id = f.Offer(2, "delivered", 3, "sv");
  std::string token = f.Token(id);
  for (int i = 0; i < 3; ++i) {  // a mail scanner prefetching it
    ReplyPage page = f.desk.HandleLinkGet(token);
    CHECK(page.status == 200);
    CHECK(Has(page.html, "<html lang=\"sv\">"));
    CHECK(Has(page.html, "Förskoleplats"));
    CHECK(Has(page.html, "<form method=\"post\">"));
    CHECK(Has(page.html, "value=\"accept\""));
    CHECK(Has(page.html, "value=\"decline\""));
    CHECK_FALSE(Has(page.html, "<script"));
  }
  CHECK(f.State(id) == "delivered");
  ReplyPage done = f.desk.HandleLinkPost(token, "accept");
  CHECK(done.status == 200);
  CHECK(Has(done.html, "ni tar emot erbjudandet"));
  CHECK(f.Column(id, "outcome") == "accepted");
  CHECK(f.Column(id, "reply_via") == "link");
  ReplyPage used = f.desk.HandleLinkPost(token, "decline");
  CHECK(used.status == 409);
  CHECK(Has(used.html, "redan besvarats"));
  CHECK(f.Column(id, "outcome") == "accepted");
  CHECK(f.desk.HandleLinkGet(token).status == 409);
}

TEST_CASE("forged and expired links are refused with a clear page", "[replies]") {
  DeskFixture f;
  int64_t id = f.Offer(1, "sent");
  std::string token = f.Token(id);
  std::string forged = token;
  forged.back() = forged.back() == 'a' ? 'b' : 'a';
  ReplyPage page = f.desk.HandleLinkPost(forged, "accept");
  CHECK(page.status == 403);
  CHECK(Has(page.html, "Linkki ei kelpaa"));
  CHECK(Has(page.html, "The link is not valid"));
  CHECK(f.desk.HandleLinkGet("1.999.r.9999999999.00000000000000000000000000000000").status == 403);
  std::string short_lived = f.Token(id, LinkAction::kRespond, chr::hours(1));
  f.clock.Advance(chr::hours(2));
  page = f.desk.HandleLinkPost(short_lived, "accept");
  CHECK(page.status == 410);
  CHECK(Has(page.html, "Linkki on vanhentunut"));
  CHECK(f.State(id) == "sent");
  CHECK(f.desk.HandleLinkPost(f.Token(id), "maybe").status == 400);
  CHECK(f.desk.HandleLinkPost(f.Token(id, LinkAction::kDecline), "accept").status == 400);
  CHECK(f.State(id) == "sent");
  CHECK(f.Audited("reply.refused"));
}

TEST_CASE("the reply link placeholder value is a URL with a valid token", "[replies]") {
  DeskFixture f;
  std::string url = ReplyLinkFor(f.options, 77, f.clock.Now());
  REQUIRE(url.rfind("https://ennakko.example.fi/reply?t=", 0) == 0);
  auto t = VerifyLinkToken(f.options.link_key, url.substr(url.find("t=") + 2), f.clock.Now());
  REQUIRE(t.ok());
  CHECK(t->offer_id == 77);
}
