#include "connectors/channels/suomifi_paper_channel.h"

#include <map>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "connectors/http/http_client.h"
#include "engine/api/http_server.h"
#include "engine/base/hetu.h"
#include "tests/fakes/suomifi_fake_server.h"

namespace ennakko {
namespace {

using namespace std::chrono_literals;
using Kind = SendOutcome::Kind;
using json = nlohmann::json;

// Synthetic identity codes only; the double: odd individual number = active mailbox.
std::string ActiveHetu() { return MakeHetu(Date::FromYmd(2019, 3, 14), 901); }
std::string InactiveHetu(int i = 0) { return MakeHetu(Date::FromYmd(2019, 3, 14), 900 + 2 * i); }

SuomiFiPaperOptions PaperOptions() {
  SuomiFiPaperOptions p;
  p.sender = {"Helsingin kaupunki", "Pohjoisesplanadi 11-13", "00170", "HELSINKI", "FI"};
  p.posti_username = "HKI001";
  p.posti_password = "1234";
  p.contact_email = "posti@example.fi";
  p.cost_pool = "KASVATUS1";
  p.reply_instructions = {{"fi", "Soita 09 310 12345."}, {"sv", "Ring 09 310 12345."}};
  return p;
}

struct Fixture {
  explicit Fixture(SuomiFiPaperOptions paper = PaperOptions()) {
    REQUIRE(fake.Start().ok());
    SuomiFiOptions o{fake.base_url(), "ennakko", "test-password", "espoo-ennakko", 2s};
    api = std::make_unique<SuomiFiChannel>(o);
    REQUIRE(SuomiFiPaperChannel::ValidateOptions(paper).ok());
    channel = std::make_unique<SuomiFiPaperChannel>(*api, paper);
  }
  SuomiFiFake fake;
  std::unique_ptr<SuomiFiChannel> api;
  std::unique_ptr<SuomiFiPaperChannel> channel;
};

OutgoingMessage Message(std::string key, std::string hetu = InactiveHetu()) {
  OutgoingMessage m;
  m.outbox_id = 7;
  m.idempotency_key = std::move(key);
  m.service = "preschool-offer";
  m.recipient.pseudonym = "p_7";
  m.recipient.hetu = std::move(hetu);
  m.recipient.language = "sv";
  m.recipient.postal_address = MailingAddress{"Åsa Öberg", "Testgatan 9 B 12", "00990", "HELSINGFORS", "FI"};
  m.title = "Förskoleplats för Ella";
  m.body = "Hej! Helsingfors stad erbjuder ert barn Ella en förskoleplats.";
  return m;
}

TEST_CASE("suomifi paper: no mailbox -> a PDF letter posted to the address we give", "[paper]") {
  Fixture f;
  CHECK(f.channel->name() == "paper");
  CHECK(f.channel->delivers_paper());
  CHECK_FALSE(f.api->delivers_paper());
  CHECK(f.channel->idempotent());

  SendOutcome out = f.channel->Send(Message("p-1"));
  REQUIRE(out.kind == Kind::kSent);
  auto messages = f.fake.messages();
  REQUIRE(messages.size() == 1);
  const SuomiFiFakeMessage& m = messages[0];
  CHECK(out.gateway_ref == std::to_string(m.message_id));
  CHECK(m.endpoint == "multichannel");
  CHECK(m.delivered_as == "paper");
  CHECK(m.external_id == "p-1");
  CHECK(m.service_id == "espoo-ennakko");
  CHECK(m.title == "Förskoleplats för Ella");
  REQUIRE(m.paper);
  CHECK(m.paper->recipient_name == "Åsa Öberg");
  CHECK(m.paper->recipient_street == "Testgatan 9 B 12");
  CHECK(m.paper->recipient_zip == "00990");
  CHECK(m.paper->recipient_city == "HELSINGFORS");
  CHECK(m.paper->recipient_country == "FI");
  CHECK(m.paper->sender_name == "Helsingin kaupunki");
  CHECK(m.paper->sender_zip == "00170");
  CHECK(m.paper->create_address_page);

  auto attachments = f.fake.attachments();
  REQUIRE(attachments.size() == 1);
  CHECK(attachments[0].id == m.paper->attachment_id);
  CHECK(attachments[0].content_type == "application/pdf");
  CHECK(attachments[0].filename == "brev.pdf");  // the recipient's language
  CHECK(attachments[0].bytes.starts_with("%PDF-"));
  CHECK(attachments[0].used);
  CHECK(f.channel->uploads() == 1);

  SECTION("the same key again: 409 counts as sent with the original id; nothing new is posted") {
    SendOutcome again = f.channel->Send(Message("p-1"));
    CHECK(again.kind == Kind::kSent);
    CHECK(again.gateway_ref == out.gateway_ref);
    CHECK(f.fake.messages().size() == 1);
  }
}

TEST_CASE("suomifi paper: an active mailbox gets it electronically", "[paper]") {
  Fixture f;
  REQUIRE(f.channel->Send(Message("p-2", ActiveHetu())).kind == Kind::kSent);
  auto messages = f.fake.messages();
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].delivered_as == "electronic");
}

TEST_CASE("suomifi paper: a protected address never gets paper, and nothing is called", "[paper]") {
  Fixture f;
  OutgoingMessage m = Message("p-3");
  m.recipient.address_protected = true;
  CHECK(f.channel->CannotReach(m.recipient) == "address protected");
  SendOutcome out = f.channel->Send(m);  // even with an address present by mistake
  CHECK(out.kind == Kind::kPermanent);
  CHECK(out.detail == "address protected");
  m.recipient.postal_address.reset();
  CHECK(f.channel->Send(m).detail == "address protected");

  OutgoingMessage none = Message("p-4");
  none.recipient.postal_address.reset();
  CHECK(f.channel->CannotReach(none.recipient) == "no postal address");
  CHECK(f.channel->Send(none).kind == Kind::kPermanent);
  none.recipient.postal_address = MailingAddress{"Nimi", "", "00100", "HELSINKI", "FI"};
  CHECK(f.channel->CannotReach(none.recipient) == "postal address incomplete");
  OutgoingMessage no_id = Message("p-5", "");
  CHECK(f.channel->CannotReach(no_id.recipient) == "no identity code");

  CHECK(f.fake.stats().token_requests == 0);
  CHECK(f.fake.attachments().empty());
  CHECK(f.fake.messages().empty());
}

TEST_CASE("suomifi paper: a retry reuses the uploaded letter", "[paper]") {
  Fixture f;
  f.fake.InjectFault({.status = 503, .count = 1, .path = "/v2/messages"});
  SendOutcome first = f.channel->Send(Message("p-6"));
  CHECK(first.kind == Kind::kTransient);
  CHECK(first.detail.find("suomifi 503") != std::string::npos);
  CHECK(f.fake.messages().empty());
  CHECK(f.channel->uploads() == 1);

  SendOutcome second = f.channel->Send(Message("p-6"));
  CHECK(second.kind == Kind::kSent);
  CHECK(f.channel->uploads() == 1);
  CHECK(f.fake.stats().attachment_requests == 1);
  REQUIRE(f.fake.attachments().size() == 1);
  CHECK(f.fake.messages().size() == 1);

  SECTION("a different message uploads its own letter") {
    REQUIRE(f.channel->Send(Message("p-7", InactiveHetu(1))).kind == Kind::kSent);
    CHECK(f.channel->uploads() == 2);
  }
}

TEST_CASE("suomifi paper: outcomes by answer", "[paper]") {
  Fixture f;
  SECTION("a 5xx or 429 on the upload is transient and nothing is sent") {
    f.fake.InjectFault({.status = 502, .count = 1, .path = "/v2/attachments"});
    SendOutcome out = f.channel->Send(Message("p-8"));
    CHECK(out.kind == Kind::kTransient);
    CHECK(out.detail.starts_with("upload: suomifi 502"));
    f.fake.InjectFault({.status = 429, .count = 1, .path = "/v2/attachments", .delay_ms = 0, .retry_after_s = 2});
    CHECK(f.channel->Send(Message("p-8")).kind == Kind::kTransient);
    CHECK(f.fake.messages().empty());
    CHECK(f.channel->Send(Message("p-8")).kind == Kind::kSent);
  }
  SECTION("a 415 on the upload is permanent") {
    f.fake.InjectFault({.status = 415, .count = 1, .path = "/v2/attachments"});
    SendOutcome out = f.channel->Send(Message("p-9"));
    CHECK(out.kind == Kind::kPermanent);
    CHECK(out.detail.find("suomifi 415") != std::string::npos);
  }
  SECTION("a 400 on the message is permanent with the reason") {
    f.fake.InjectFault({.status = 400, .count = 1, .path = "/v2/messages"});
    SendOutcome out = f.channel->Send(Message("p-10"));
    CHECK(out.kind == Kind::kPermanent);
    CHECK(out.detail == "suomifi 400: injected fault");
  }
  SECTION("an expired token is renewed once, for the upload and the message alike") {
    REQUIRE(f.channel->Send(Message("p-11")).kind == Kind::kSent);
    f.fake.ExpireTokens();
    REQUIRE(f.channel->Send(Message("p-12", InactiveHetu(1))).kind == Kind::kSent);
    CHECK(f.fake.stats().tokens_issued == 2);
    CHECK(f.fake.messages().size() == 2);
  }
  SECTION("a reply slower than the timeout is transient") {
    f.fake.InjectFault({.status = 0, .count = 1, .path = "/v2/messages", .delay_ms = 3000});
    CHECK(f.channel->Send(Message("p-13")).kind == Kind::kTransient);
  }
  SECTION("texts the API would refuse fail without a call") {
    OutgoingMessage m = Message("p-14");
    m.title.clear();
    CHECK(f.channel->Send(m).kind == Kind::kPermanent);
    CHECK(f.fake.stats().token_requests == 0);
  }
}

TEST_CASE("suomifi paper: options are checked", "[paper]") {
  CHECK(SuomiFiPaperChannel::ValidateOptions(PaperOptions()).ok());
  auto bad = [](auto edit) {
    SuomiFiPaperOptions o = PaperOptions();
    edit(o);
    return !SuomiFiPaperChannel::ValidateOptions(o).ok();
  };
  CHECK(bad([](SuomiFiPaperOptions& o) { o.sender.city.clear(); }));
  CHECK(bad([](SuomiFiPaperOptions& o) { o.sender.country_code = "fi"; }));
  CHECK(bad([](SuomiFiPaperOptions& o) { o.posti_username = "short"; }));
  CHECK(bad([](SuomiFiPaperOptions& o) { o.posti_password = "12345"; }));
  CHECK(bad([](SuomiFiPaperOptions& o) { o.contact_email = "nope"; }));
  CHECK(bad([](SuomiFiPaperOptions& o) { o.cost_pool = "lower"; }));
}

// The double's multichannel checks, over HTTP, where the channel does not go.
TEST_CASE("suomifi fake: attachments and multichannel validation", "[paper]") {
  SuomiFiFake fake;
  REQUIRE(fake.Start().ok());
  const std::string base = fake.base_url();
  auto token = HttpCall("POST", base + "/v1/token",
                        R"({"username":"ennakko","password":"test-password"})", {}, 2s);
  REQUIRE(token.ok());
  const std::string bearer = "Bearer " + json::parse(token->body)["access_token"].get<std::string>();
  auto upload = [&](const std::string& type, const std::string& bytes) {
    auto r = HttpCall("POST", base + "/v2/attachments", MultipartFile("b0undary", "x", type, bytes),
                      {{"Authorization", bearer},
                       {"Content-Type", "multipart/form-data; boundary=b0undary"}},
                      2s);
    REQUIRE(r.ok());
    return *r;
  };
  auto pdf = upload("application/pdf", "%PDF-1.4 fake");
  REQUIRE(pdf.status == 201);
  const std::string pdf_id = json::parse(pdf.body)["attachmentId"];
  CHECK(pdf_id.size() == 36);
  auto text = upload("text/plain", "not a pdf");
  REQUIRE(text.status == 201);
  const std::string text_id = json::parse(text.body)["attachmentId"];
  CHECK(upload("application/x-evil", "x").status == 415);
  auto no_file = HttpCall("POST", base + "/v2/attachments", "{}",
                          {{"Authorization", bearer}, {"Content-Type", "application/json"}}, 2s);
  CHECK(no_file->status == 400);
  auto big = HttpCall("POST", base + "/v2/attachments",
                      MultipartFile("b0undary", "x", "application/pdf",
                                    "%PDF-" + std::string(10 * 1024 * 1024, 'x')),
                      {{"Authorization", bearer},
                       {"Content-Type", "multipart/form-data; boundary=b0undary"}},
                      5s);
  CHECK((!big.ok() || big->status == 413));

  auto valid = [&] {
    json address = {{"name", "N"}, {"streetAddress", "S 1"}, {"zipCode", "00100"},
                    {"city", "HELSINKI"}, {"countryCode", "FI"}};
    return json{
        {"externalId", "m-1"},
        {"recipient", {{"id", InactiveHetu()}}},
        {"sender", {{"serviceId", "s"}}},
        {"electronic",
         {{"title", "t"}, {"body", "b"}, {"bodyFormat", "Text"}, {"messageServiceType", "Normal"},
          {"replyAllowedBy", "No one"}, {"visibility", "Normal"}, {"attachments", json::array()},
          {"notifications",
           {{"senderDetailsInNotifications", "None"},
            {"unreadMessageNotification", {{"reminder", "No reminders"}}}}}}},
        {"paperMail",
         {{"attachments", json::array({json{{"attachmentId", pdf_id}}})},
          {"colorPrinting", false}, {"createAddressPage", true}, {"rotateLandscapePages", false},
          {"twoSidedPrinting", false}, {"messageServiceType", "Normal"},
          {"printingAndEnvelopingService",
           {{"postiMessaging",
             {{"username", "ABCDEF"}, {"password", "1234"},
              {"contactDetails", {{"email", "a@b.fi"}}}}}}},
          {"recipient", {{"address", address}}},
          {"sender", {{"address", address}}}}}};
  };
  auto post = [&](const json& body) {
    auto r = HttpCall("POST", base + "/v2/messages", body.dump(),
                      {{"Authorization", bearer}, {"Content-Type", "application/json"}}, 2s);
    REQUIRE(r.ok());
    return *r;
  };
  json two = valid();
  two["paperMail"]["attachments"].push_back(json{{"attachmentId", pdf_id}});
  CHECK(post(two).status == 400);
  json zero = valid();
  zero["paperMail"]["attachments"] = json::array();
  CHECK(post(zero).status == 400);
  json not_pdf = valid();
  not_pdf["paperMail"]["attachments"][0]["attachmentId"] = text_id;
  CHECK(post(not_pdf).status == 400);
  for (const char* field : {"name", "streetAddress", "zipCode", "city", "countryCode"}) {
    json missing = valid();
    missing["paperMail"]["recipient"]["address"].erase(field);
    CHECK(post(missing).status == 400);
  }
  json no_posti = valid();
  no_posti["paperMail"]["printingAndEnvelopingService"]["postiMessaging"]["password"] = "12345";
  CHECK(post(no_posti).status == 400);
  CHECK(fake.messages().empty());

  auto ok = post(valid());
  CHECK(ok.status == 200);
  auto again = post(valid());
  CHECK(again.status == 409);
  CHECK(json::parse(again.body)["messageId"] == json::parse(ok.body)["messageId"]);
  REQUIRE(fake.messages().size() == 1);
  CHECK(fake.messages()[0].delivered_as == "paper");

  // The admin view and the 429's Retry-After header.
  auto listed = HttpCall("GET", base + "/_test/messages", "", {}, 2s);
  json l = json::parse(listed->body);
  REQUIRE(l.size() == 1);
  CHECK(l[0]["paperMail"]["recipientAddress"]["city"] == "HELSINKI");
  auto bytes = HttpCall("GET", base + "/_test/attachment?id=" + pdf_id, "", {}, 2s);
  CHECK(bytes->body == "%PDF-1.4 fake");
  fake.InjectFault({.status = 429, .count = 1, .path = "", .delay_ms = 0, .retry_after_s = 7});
  auto limited = HttpCall("GET", base + "/v2/events", "", {{"Authorization", bearer}}, 2s);
  CHECK(limited->status == 429);
  CHECK(limited->headers["retry-after"] == "7");
}

// Replies with fields the client does not know: they are ignored, the known ones still read.
TEST_CASE("suomifi: unknown fields in replies are ignored", "[suomifi]") {
  HttpServer server({});
  server.AddRoute("POST", "/v1/token", [](const HttpRequest&) {
    return HttpResponse{200, "application/json",
                        R"({"access_token":"t","token_type":"Bearer","expires_in":60,"scope":"x","new":{"a":1}})"};
  }, false);
  server.AddRoute("POST", "/v2/messages/electronic", [](const HttpRequest& r) {
    if (r.body.find("\"k-409\"") != std::string::npos) {
      return HttpResponse{409, "application/json",
                          R"({"reason":"External ID already in use","messageId":77,"traceId":"abc","extra":[1,2]})"};
    }
    if (r.body.find("\"k-400\"") != std::string::npos) {
      return HttpResponse{400, "application/json",
                          R"({"reason":"Bad request","future":true,"validationErrors":[{"error":"Recipient mailbox is not active","errorCode":"MAILBOX_NOT_IN_USE","hint":"x"}]})"};
    }
    return HttpResponse{200, "application/json", R"({"messageId":76,"traceId":"abc","more":{}})"};
  }, false);
  REQUIRE(server.Start().ok());
  SuomiFiChannel channel({"http://127.0.0.1:" + std::to_string(server.port()), "u", "p", "s", 2s});
  OutgoingMessage m = Message("k-200", ActiveHetu());
  SendOutcome ok = channel.Send(m);
  CHECK(ok.kind == Kind::kSent);
  CHECK(ok.gateway_ref == "76");
  m.idempotency_key = "k-409";
  SendOutcome dup = channel.Send(m);
  CHECK(dup.kind == Kind::kSent);
  CHECK(dup.gateway_ref == "77");
  m.idempotency_key = "k-400";
  SendOutcome no = channel.Send(m);
  CHECK(no.kind == Kind::kPermanent);
  CHECK(no.detail == "no active Suomi.fi mailbox");
  server.Stop();
}

}  // namespace
}  // namespace ennakko
