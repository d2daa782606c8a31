#include "connectors/channels/kannel_sms_channel.h"

#include <mutex>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/api/http_server.h"

namespace ennakko {
namespace {

using namespace std::chrono_literals;

// A stand-in for Kannel's sendsms endpoint: records the decoded query of each call and answers
// with a configurable status and text.
class FakeSendsms {
 public:
  FakeSendsms(int status, std::string reply) : server_(HttpServerOptions{}) {
    server_.AddRoute("GET", "/cgi-bin/sendsms", [this, status, reply](const HttpRequest& req) {
      std::lock_guard lock(mu_);
      calls_.push_back(req.query);
      return HttpResponse{status, "text/html", reply};
    }, false);
    REQUIRE(server_.Start().ok());
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_.port()) + "/cgi-bin/sendsms";
  }
  std::vector<std::map<std::string, std::string>> calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  HttpServer server_;
  std::mutex mu_;
  std::vector<std::map<std::string, std::string>> calls_;
};

KannelSmsOptions Options(const std::string& url) {
  KannelSmsOptions o;
  o.sendsms_url = url;
  o.username = "ennakko";
  o.password = "p&ss=w+rd";
  o.from = "Espoo";
  o.timeout = 2s;
  return o;
}

OutgoingMessage Message(std::string body) {
  OutgoingMessage m;
  m.outbox_id = 7;
  m.idempotency_key = "k1";
  m.recipient.pseudonym = "p_1";
  m.recipient.phone = "+358401234567";
  m.title = "ignored";
  m.body = std::move(body);
  return m;
}

TEST_CASE("KannelSmsChannel sends the right sendsms parameters and maps 202 to Sent") {
  FakeSendsms kannel(202, "0: Accepted for delivery");
  KannelSmsOptions o = Options(kannel.url());
  o.dlr_url = "http://127.0.0.1:8080/api/v1/sms/dlr";
  o.dlr_key = "dlr-key-0123456789abcdef";
  KannelSmsChannel channel(o);
  CHECK(channel.name() == "sms");
  CHECK_FALSE(channel.idempotent());
  CHECK(KannelSmsChannel::ValidateOptions(o).ok());

  SECTION("GSM-7 text") {
    SendOutcome out = channel.Send(Message("Hei! Päivähoito alkaa 1.8. Vastaa KYLLÄ & kiitos = 100 %"));
    CHECK(out.kind == SendOutcome::Kind::kSent);
    auto calls = kannel.calls();
    REQUIRE(calls.size() == 1);
    auto& q = calls[0];
    CHECK(q["username"] == "ennakko");
    CHECK(q["password"] == "p&ss=w+rd");
    CHECK(q["to"] == "+358401234567");
    CHECK(q["from"] == "Espoo");
    CHECK(q["text"] == "Hei! Päivähoito alkaa 1.8. Vastaa KYLLÄ & kiitos = 100 %");
    CHECK(q["charset"] == "UTF-8");
    CHECK(q["coding"] == "0");
    CHECK(q["max-messages"] == "3");
    CHECK(q["dlr-mask"] == "31");
    // Signed per message: Kannel cannot send a bearer token to our endpoint.
    const int64_t id = Message("x").outbox_id;
    CHECK(q["dlr-url"] == "http://127.0.0.1:8080/api/v1/sms/dlr?id=" + std::to_string(id) +
                              "&sig=" + KannelDlrSignature(o.dlr_key, id) + "&status=%d");
    CHECK(KannelDlrSignature(o.dlr_key, id).size() == 32);
    CHECK(KannelDlrSignature(o.dlr_key, id) != KannelDlrSignature(o.dlr_key, id + 1));
    CHECK(KannelDlrSignature(o.dlr_key, id) != KannelDlrSignature("another-key-0123456789", id));
  }
  SECTION("UCS-2 text") {
    CHECK(channel.Send(Message("Žiljak 你好")).kind == SendOutcome::Kind::kSent);
    REQUIRE(kannel.calls().size() == 1);
    CHECK(kannel.calls()[0]["coding"] == "2");
    CHECK(kannel.calls()[0]["text"] == "Žiljak 你好");
  }
  SECTION("no dlr-url: no dlr parameters") {
    KannelSmsChannel plain(Options(kannel.url()));
    CHECK(plain.Send(Message("x")).kind == SendOutcome::Kind::kSent);
    CHECK(kannel.calls()[0].count("dlr-mask") == 0);
  }
  SECTION("too many parts fails permanently without calling Kannel") {
    SendOutcome out = channel.Send(Message(std::string(3 * 153 + 1, 'a')));
    CHECK(out.kind == SendOutcome::Kind::kPermanent);
    CHECK(kannel.calls().empty());
  }
}

TEST_CASE("KannelSmsChannel maps Kannel's failures") {
  SECTION("403 is permanent with Kannel's text") {
    FakeSendsms kannel(403, "Authorization failed for sendsms");
    SendOutcome out = KannelSmsChannel(Options(kannel.url())).Send(Message("x"));
    CHECK(out.kind == SendOutcome::Kind::kPermanent);
    CHECK(out.detail == "kannel 403: Authorization failed for sendsms");
  }
  SECTION("400 is permanent") {
    FakeSendsms kannel(400, "Missing receiver number, rejected");
    CHECK(KannelSmsChannel(Options(kannel.url())).Send(Message("x")).kind ==
          SendOutcome::Kind::kPermanent);
  }
  SECTION("500 is transient") {
    FakeSendsms kannel(500, "Internal error");
    SendOutcome out = KannelSmsChannel(Options(kannel.url())).Send(Message("x"));
    CHECK(out.kind == SendOutcome::Kind::kTransient);
    CHECK(out.detail == "kannel 500: Internal error");
  }
  SECTION("200 with Sent is sent") {
    FakeSendsms kannel(200, "Sent.");
    CHECK(KannelSmsChannel(Options(kannel.url())).Send(Message("x")).kind ==
          SendOutcome::Kind::kSent);
  }
  SECTION("connection refused is transient") {
    std::string url;
    {
      FakeSendsms gone(202, "");
      url = gone.url();
    }
    SendOutcome out = KannelSmsChannel(Options(url)).Send(Message("x"));
    CHECK(out.kind == SendOutcome::Kind::kTransient);
    // No phone number in the detail (the port may contain any digits, so look for the number).
    CHECK(out.detail.find("401234567") == std::string::npos);
  }
}

TEST_CASE("KannelSmsChannel cannot reach a recipient without a phone") {
  KannelSmsChannel channel(Options("http://127.0.0.1:1/cgi-bin/sendsms"));
  Recipient r;
  CHECK(channel.CannotReach(r) == "no phone");
  r.phone = "";
  CHECK(channel.CannotReach(r) == "no phone");
  r.phone = "+358401234567";
  CHECK(channel.CannotReach(r).empty());
  OutgoingMessage m = Message("x");
  m.recipient.phone.reset();
  CHECK(channel.Send(m).kind == SendOutcome::Kind::kPermanent);
}

TEST_CASE("KannelSmsChannel::ValidateOptions") {
  KannelSmsOptions o = Options("http://127.0.0.1:13013/cgi-bin/sendsms");
  CHECK(KannelSmsChannel::ValidateOptions(o).ok());
  o.sendsms_url = "https://kannel/cgi-bin/sendsms";  // the HTTP client speaks TLS
  CHECK(KannelSmsChannel::ValidateOptions(o).ok());
  o.sendsms_url = "ftp://kannel/cgi-bin/sendsms";
  CHECK_FALSE(KannelSmsChannel::ValidateOptions(o).ok());
  o = Options("not a url");
  CHECK_FALSE(KannelSmsChannel::ValidateOptions(o).ok());
  o = Options("http://127.0.0.1:13013/cgi-bin/sendsms");
  o.max_messages = 0;
  CHECK_FALSE(KannelSmsChannel::ValidateOptions(o).ok());
  o = Options("http://127.0.0.1:13013/cgi-bin/sendsms");
  o.dlr_url = "http://127.0.0.1:8080/api/v1/sms/dlr";
  CHECK_FALSE(KannelSmsChannel::ValidateOptions(o).ok());  // delivery reports without a key
  o.dlr_key = "dlr-key-0123456789abcdef";
  CHECK(KannelSmsChannel::ValidateOptions(o).ok());
}

}  // namespace
}  // namespace ennakko
