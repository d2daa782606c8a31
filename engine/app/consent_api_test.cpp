#include "engine/app/consent_api.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "connectors/http/http_client.h"
#include "engine/base/hetu.h"
#include "engine/app/evaluation_pass.h"
#include "engine/app/explain.h"
#include "engine/store/migrations.h"

using namespace ennakko;
using nlohmann::json;
namespace chr = std::chrono;
namespace fs = std::filesystem;

namespace {

json With(json body, const char* key, const json& value) {
  body[key] = value;
  return body;
}

constexpr const char* kToken = "consent-test-token-0123456789";

// A store with a family (mother 1, father 2, child 3 in both parents' custody) and an adult (4),
// the consent test rules (tests/data/rules-consent), and the API on a loopback port.
struct Fixture {
  fs::path dir = fs::temp_directory_path() / ("ennakko-consent-api-test-" + std::to_string(::getpid()));
  FakeClock clock{chr::sys_days{chr::year{2026} / 11 / 22} + chr::hours{8}};
  std::unique_ptr<Db> db;  // the test's own connection, as the daemon's main loop has its own
  std::unique_ptr<AuditLog> audit;
  Pseudonymizer pseudonyms{"consent-test-key-consent-test-key"};
  std::unique_ptr<ConsentApi> api;
  std::unique_ptr<HttpServer> server;
  std::vector<std::vector<int64_t>> changed;
  std::mutex changed_mu;
  std::string mother = MakeHetu(Date::FromYmd(1990, 1, 1), 902);
  std::string father = MakeHetu(Date::FromYmd(1989, 2, 2), 903);
  std::string child = MakeHetu(Date::FromYmd(2022, 5, 5), 904);
  std::string adult = MakeHetu(Date::FromYmd(1980, 3, 3), 905);

  Fixture() {
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::string path = (dir / "store.db").string();
    db = OpenStore({.path = path}).value();
    audit = AuditLog::Open({.path = (dir / "audit.jsonl").string()}, clock).value();
    int64_t id = 0;
    for (const auto& code : {mother, father, child, adult}) {
      auto st = db->Prepare("INSERT INTO residents (id, hetu, municipality, updated_at) VALUES (?, ?, '091', 'x')");
      st->Bind(1, ++id).Bind(2, code);
      REQUIRE(st->Run().ok());
    }
    REQUIRE(db->Exec("INSERT INTO custody (guardian_id, ward_id) VALUES (1, 3), (2, 3)").ok());
    Diagnostics diags;
    auto sources = LoadRuleSources(ENNAKKO_SOURCE_ROOT "/tests/data/rules-consent", diags);
    INFO(diags.ToString());
    REQUIRE(sources.ok());
    api = ConsentApi::Open({.store_path = path, .busy_timeout_ms = 5000, .synchronous_full = false, .consent = {}},
                           clock, *audit, pseudonyms)
              .value();
    api->SetRules(RuleSet::Compile(*sources).value());
    api->OnResidentsChanged([this](std::vector<int64_t> ids) {
      std::lock_guard lock(changed_mu);
      changed.push_back(std::move(ids));
    });
    HttpServerOptions o;
    o.bearer_token = kToken;
    server = std::make_unique<HttpServer>(o);
    api->Register(*server);
    REQUIRE(server->Start().ok());
  }
  ~Fixture() {
    server->Stop();
    fs::remove_all(dir);
  }

  HttpClientResult Post(const std::string& path, const std::string& body, const char* token = kToken) {
    std::map<std::string, std::string> headers = {{"Content-Type", "application/json"}};
    if (token) headers["Authorization"] = std::string("Bearer ") + token;
    auto r = HttpCall("POST", "http://127.0.0.1:" + std::to_string(server->port()) + path, body, headers,
                      chr::seconds(10));
    REQUIRE(r.ok());
    return *r;
  }
  HttpClientResult Post(const std::string& path, const json& body) { return Post(path, body.dump()); }
  json GrantBody(const std::string& code, const char* purpose = "ecec-fee-income") {
    return {{"identity_code", code}, {"purpose", purpose}, {"granted_at", "2026-11-22T07:00:00Z"},
            {"source", "mydata-operator"}};
  }
  int64_t Grant(const std::string& code, const char* purpose = "ecec-fee-income") {
    auto r = Post("/api/v1/consents", GrantBody(code, purpose));
    INFO(r.body);
    REQUIRE(r.status == 201);
    return json::parse(r.body)["id"].get<int64_t>();
  }
  int64_t Offer(const std::string& service, int subject, int recipient, const char* state, const char* period = "2026") {
    auto st = db->Prepare(
        "INSERT INTO outbox (idem_key, service, subject_id, recipient_id, period, language, state, next_attempt_at, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'fi', ?, 'x', 'x', 'x') RETURNING id");
    st->Bind(1, service + "/" + std::to_string(subject) + "/" + std::to_string(recipient) + "/" + period);
    st->Bind(2, service).Bind(3, subject).Bind(4, recipient).Bind(5, period).Bind(6, state);
    REQUIRE(st->Step().value());
    return st->Int(0);
  }
  std::string State(int64_t offer) {
    auto st = db->Prepare("SELECT state FROM outbox WHERE id = ?");
    st->Bind(1, offer);
    REQUIRE(st->Step().value());
    return st->Text(0);
  }
  std::string AuditText() {
    REQUIRE(audit->Flush().ok());
    std::ifstream f(dir / "audit.jsonl");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  std::vector<json> Events(const std::string& type) {
    std::vector<json> out;
    std::istringstream lines(AuditText());
    for (std::string line; std::getline(lines, line);) {
      json j = json::parse(line);
      if (j["type"] == type) out.push_back(j);
    }
    return out;
  }
};

}  // namespace

TEST_CASE("consent API: every route needs the bearer token", "[consents][api]") {
  Fixture f;
  for (const char* path : {"/api/v1/consents", "/api/v1/consents/revoke", "/api/v1/consents/lookup"}) {
    INFO(path);
    CHECK(f.Post(path, f.GrantBody(f.mother).dump(), nullptr).status == 401);
    CHECK(f.Post(path, f.GrantBody(f.mother).dump(), "wrong-token").status == 401);
  }
  CHECK(f.Events("consent.granted").empty());
}

TEST_CASE("consent API: bad input gets 400 or 404 with a clear message that repeats no identity code", "[consents][api]") {
  Fixture f;
  std::string bad_check = f.mother;
  bad_check[10] = bad_check[10] == 'A' ? 'B' : 'A';
  std::string stranger = MakeHetu(Date::FromYmd(1970, 7, 7), 990);
  struct Case {
    json body;
    int status;
    const char* says;
  };
  std::vector<Case> cases = {
      {json("not an object"), 400, "JSON object"},
      {{{"purpose", "ecec-fee-income"}, {"granted_at", "2026-11-22T07:00:00Z"}, {"source", "x"}}, 400, "identity_code"},
      {f.GrantBody(bad_check), 400, "not a valid identity code"},
      {f.GrantBody(stranger), 404, "no resident"},
      {f.GrantBody(f.mother, "Fee Income"), 400, "purpose"},
      {With(f.GrantBody(f.mother), "granted_at", "yesterday"), 400, "granted_at"},
      {With(f.GrantBody(f.mother), "granted_at", "2026-11-22T09:00:00Z"), 400, "future"},
      {With(f.GrantBody(f.mother), "expires_at", "2026-11-22T06:00:00Z"), 400, "after granted_at"},
      {With(f.GrantBody(f.mother), "source", "+358401234567"), 400, "personal data"},
      {With(f.GrantBody(f.mother), "note", f.child), 400, "unknown member"},
  };
  for (const auto& c : cases) {
    auto r = f.Post("/api/v1/consents", c.body);
    INFO(c.body.dump() << " -> " << r.body);
    CHECK(r.status == c.status);
    CHECK_THAT(r.body, Catch::Contains(c.says));
    for (const auto& code : {f.mother, f.child, bad_check, stranger}) CHECK(r.body.find(code) == std::string::npos);
    CHECK(json::parse(r.body).contains("error"));
  }
  CHECK(f.Post("/api/v1/consents", std::string("{not json")).status == 400);
  CHECK(f.Post("/api/v1/consents/revoke", json{{"id", "7"}}).status == 400);
  CHECK(f.Post("/api/v1/consents/revoke", json{{"id", 4242}}).status == 404);
  CHECK(f.Post("/api/v1/consents/lookup", json::object()).status == 400);
  CHECK(f.Events("consent.granted").empty());
  CHECK(f.changed.empty());
}

TEST_CASE("consent API: a grant is stored, audited with a pseudonym and can be looked up", "[consents][api]") {
  Fixture f;
  json body = f.GrantBody(f.mother);
  body["expires_at"] = "2027-11-22T00:00:00+02:00";
  auto r = f.Post("/api/v1/consents", body);
  INFO(r.body);
  REQUIRE(r.status == 201);
  json j = json::parse(r.body);
  int64_t id = j["id"].get<int64_t>();
  CHECK(j["active"] == true);
  CHECK(j["expires_at"] == "2027-11-21T22:00:00.000Z");
  CHECK(r.body.find(f.mother) == std::string::npos);
  CHECK(HasActiveConsent(*f.db, 1, "ecec-fee-income", f.clock.Now()).value());
  CHECK(f.changed == std::vector<std::vector<int64_t>>{{1}});

  auto events = f.Events("consent.granted");
  REQUIRE(events.size() == 1);
  CHECK(events[0]["consent"] == id);
  CHECK(events[0]["subject"] == f.pseudonyms.Of(f.mother));
  CHECK(events[0]["purpose"] == "ecec-fee-income");
  CHECK(events[0]["source"] == "mydata-operator");
  CHECK(f.AuditText().find(f.mother) == std::string::npos);

  // The same grant again (a retry): 409 with the open consent's id, nothing new.
  auto again = f.Post("/api/v1/consents", f.GrantBody(f.mother));
  CHECK(again.status == 409);
  CHECK(json::parse(again.body)["id"] == id);
  CHECK(f.Events("consent.granted").size() == 1);

  auto by_code = f.Post("/api/v1/consents/lookup", json{{"identity_code", f.mother}});
  REQUIRE(by_code.status == 200);
  json list = json::parse(by_code.body)["consents"];
  REQUIRE(list.size() == 1);
  CHECK(list[0]["id"] == id);
  CHECK(by_code.body.find(f.mother) == std::string::npos);
  auto by_id = f.Post("/api/v1/consents/lookup", json{{"id", id}});
  REQUIRE(by_id.status == 200);
  CHECK(json::parse(by_id.body)["consents"][0]["purpose"] == "ecec-fee-income");
}

TEST_CASE("consent API: revoking cancels the queued offers that relied on the consent, nothing else", "[consents][api]") {
  Fixture f;
  int64_t consent = f.Grant(f.mother);
  int64_t to_mother = f.Offer("fee-estimate", 3, 1, "queued");
  int64_t to_father = f.Offer("fee-estimate", 3, 2, "queued");    // the child lost the permission
  int64_t sent = f.Offer("fee-estimate", 3, 2, "sent", "2025");    // already out: history
  int64_t sending = f.Offer("fee-estimate", 3, 1, "sending", "2024");  // in flight: not ours to stop
  int64_t preschool = f.Offer("preschool-offer", 3, 1, "queued");  // public task, not a consent
  int64_t other_purpose = f.Offer("benefit-check", 1, 1, "queued");
  f.clock.Advance(chr::minutes(5));

  auto r = f.Post("/api/v1/consents/revoke", json{{"id", consent}, {"source", "mydata-operator"}});
  INFO(r.body);
  REQUIRE(r.status == 200);
  json j = json::parse(r.body);
  CHECK(j["already_revoked"] == false);
  CHECK(j["offers_cancelled"] == 2);
  CHECK(j["revoked_at"] == "2026-11-22T08:05:00.000Z");
  CHECK(j["active"] == false);
  CHECK(f.State(to_mother) == "cancelled");
  CHECK(f.State(to_father) == "cancelled");
  CHECK(f.State(sent) == "sent");
  CHECK(f.State(sending) == "sending");
  CHECK(f.State(preschool) == "queued");
  CHECK(f.State(other_purpose) == "queued");
  CHECK_FALSE(HasActiveConsent(*f.db, 1, "ecec-fee-income", f.clock.Now()).value());

  auto revoked = f.Events("consent.revoked");
  REQUIRE(revoked.size() == 1);
  CHECK(revoked[0]["consent"] == consent);
  CHECK(revoked[0]["subject"] == f.pseudonyms.Of(f.mother));
  CHECK(revoked[0]["offers_cancelled"] == 2);
  auto cancelled = f.Events("offer.cancelled");
  REQUIRE(cancelled.size() == 2);
  for (const auto& e : cancelled) {
    CHECK(e["reason"] == "consent revoked");
    CHECK(e["consent"] == consent);
    CHECK(e["subject"] == f.pseudonyms.Of(f.child));
  }
  CHECK(f.changed.size() == 2);  // the grant, the revocation
  CHECK(f.changed.back() == std::vector<int64_t>{1});

  // Revoking again changes nothing and cancels nothing.
  auto again = f.Post("/api/v1/consents/revoke", json{{"id", consent}});
  REQUIRE(again.status == 200);
  CHECK(json::parse(again.body)["already_revoked"] == true);
  CHECK(json::parse(again.body)["offers_cancelled"] == 0);
  CHECK(json::parse(again.body)["revoked_at"] == "2026-11-22T08:05:00.000Z");
  CHECK(f.Events("consent.revoked").size() == 1);
  CHECK(f.changed.size() == 2);
}

TEST_CASE("consent API: another guardian's consent keeps the child's permission; only the revoker's offer goes",
          "[consents][api]") {
  Fixture f;
  int64_t mothers = f.Grant(f.mother);
  f.Grant(f.father);
  int64_t to_mother = f.Offer("fee-estimate", 3, 1, "queued");
  int64_t to_father = f.Offer("fee-estimate", 3, 2, "queued");
  auto r = f.Post("/api/v1/consents/revoke", json{{"id", mothers}});
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body)["offers_cancelled"] == 1);
  CHECK(f.State(to_mother) == "cancelled");
  CHECK(f.State(to_father) == "queued");
}

TEST_CASE("consent API: a rule with permission from the subject loses its offers to that subject", "[consents][api]") {
  Fixture f;
  int64_t consent = f.Grant(f.adult, "benefit-check");
  int64_t own = f.Offer("benefit-check", 4, 4, "queued");
  int64_t someone_else = f.Offer("benefit-check", 1, 1, "queued");
  auto r = f.Post("/api/v1/consents/revoke", json{{"id", consent}});
  REQUIRE(r.status == 200);
  CHECK(f.State(own) == "cancelled");
  CHECK(f.State(someone_else) == "queued");
}

TEST_CASE("evaluation pass: a consent in the store gives the permission; after revocation it is excluded",
          "[consents][pass]") {
  Fixture f;
  REQUIRE(f.db->Exec("INSERT INTO placements (resident_id, kind, start_date) VALUES (3, 'ecec', '2024-08-01')").ok());
  Diagnostics diags;
  auto rules = RuleSet::Compile(LoadRuleSources(ENNAKKO_SOURCE_ROOT "/tests/data/rules-consent", diags).value()).value();
  auto decision = [&]() {
    auto st = f.db->Prepare("SELECT verdict, permission, reasons FROM decisions WHERE service = 'fee-estimate' AND subject_id = 3");
    REQUIRE(st->Step().value());
    return std::vector<std::string>{st->Text(0), st->Text(1), st->Text(2)};
  };
  auto pass = RunEvaluationPass(*f.db, *rules, f.clock, *f.audit, f.pseudonyms);
  REQUIRE(pass.ok());
  CHECK(decision()[0] == "excluded");
  CHECK_THAT(decision()[2], Catch::Contains("no active consent for purpose 'ecec-fee-income'"));
  CHECK(pass->offers_queued == 0);

  int64_t consent = f.Grant(f.father);
  pass = RunEvaluationPass(*f.db, *rules, f.clock, *f.audit, f.pseudonyms);
  REQUIRE(pass.ok());
  CHECK(decision()[0] == "eligible");
  CHECK(decision()[1] == "yes");
  CHECK_THAT(decision()[2], Catch::Contains("consent " + std::to_string(consent) + " for purpose 'ecec-fee-income'"));
  CHECK(pass->offers_queued == 2);  // both guardians

  auto r = f.Post("/api/v1/consents/revoke", json{{"id", consent}});
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body)["offers_cancelled"] == 2);
  pass = RunEvaluationPass(*f.db, *rules, f.clock, *f.audit, f.pseudonyms);
  REQUIRE(pass.ok());
  CHECK(decision()[0] == "excluded");
  CHECK(decision()[1] == "no");
  {
    auto st = f.db->Prepare("SELECT count(*) FROM outbox WHERE state = 'queued'");
    REQUIRE(st->Step().value());
    CHECK(st->Int(0) == 0);
  }  // finished, so this connection holds no read snapshot while the API writes
  // Granting again does not resend: an offer's key is used once, ever.
  f.clock.Advance(chr::minutes(1));
  f.Grant(f.father);
  pass = RunEvaluationPass(*f.db, *rules, f.clock, *f.audit, f.pseudonyms);
  INFO(pass.status().ToString());
  REQUIRE(pass.ok());
  CHECK(decision()[0] == "eligible");
  CHECK(pass->offers_queued == 0);
}

TEST_CASE("explain shows the consent condition: the consents considered and whether they count", "[consents][explain]") {
  Fixture f;
  REQUIRE(f.db->Exec("INSERT INTO placements (resident_id, kind, start_date) VALUES (3, 'ecec', '2024-08-01')").ok());
  Diagnostics diags;
  auto rules = RuleSet::Compile(LoadRuleSources(ENNAKKO_SOURCE_ROOT "/tests/data/rules-consent", diags).value()).value();
  Date today = f.clock.Today();
  auto before = ExplainDecision(*f.db, *rules, f.pseudonyms, "fee-estimate", 3, today);
  REQUIRE(before.ok());
  CHECK((*before)["conditions"]["permission"] == "no");
  CHECK((*before)["permission"]["consents"].empty());
  CHECK_THAT(RenderExplanation(*before), Catch::Contains("no consent recorded"));

  int64_t consent = f.Grant(f.mother);
  auto after = ExplainDecision(*f.db, *rules, f.pseudonyms, "fee-estimate", 3, today);
  REQUIRE(after.ok());
  CHECK((*after)["conditions"]["permission"] == "yes");
  const json& c = (*after)["permission"]["consents"];
  REQUIRE(c.size() == 1);
  CHECK(c[0]["consent"] == consent);
  CHECK(c[0]["from"] == f.pseudonyms.Of(f.mother));
  CHECK(c[0]["counts_on_date"] == true);
  std::string text = RenderExplanation(*after);
  CHECK_THAT(text, Catch::Contains("permission by consent for purpose ecec-fee-income from subject.guardians"));
  CHECK_THAT(text, Catch::Contains("-> counts"));
  CHECK(text.find(f.mother) == std::string::npos);
}
