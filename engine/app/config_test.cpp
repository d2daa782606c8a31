#include "engine/app/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <catch2/catch.hpp>

using namespace ennakko;
namespace fs = std::filesystem;

namespace {
std::string Write(const std::string& name, const std::string& text) {
  fs::path dir = fs::temp_directory_path() / "ennakko-config-test";
  fs::create_directories(dir);
  fs::path p = dir / name;
  std::ofstream(p) << text;
  return p.string();
}
const char* kValid = R"(store: {path: ../var/ennakko.db}
audit:
  path: audit.jsonl
  pseudonym_key: {file: key.txt}
rules: {directory: /srv/rules}
population: {kind: file-drop, directory: drop, demo: {seed: 7, residents: 100}}
channels:
  file: {directory: out}
  sms: {sendsms_url: "http://127.0.0.1:13013/cgi-bin/sendsms", username: u, password: {env: ENNAKKO_TEST_SMS_PW}, from: Ennakko}
http: {port: 0, token: inline-token}
)";
}  // namespace

TEST_CASE("the shipped demo configuration is valid", "[config]") {
  // Beside a copy of the shipped config, the secrets deploy/run-demo.sh would create.
  fs::path root = fs::temp_directory_path() / ("ennakko-config-shipped-" + std::to_string(::getpid()));
  fs::create_directories(root / "deploy");
  fs::create_directories(root / "var/secrets");
  fs::copy_file(ENNAKKO_SOURCE_ROOT "/deploy/ennakko.yaml", root / "deploy/ennakko.yaml",
                fs::copy_options::overwrite_existing);
  std::ofstream(root / "var/secrets/pseudonym.key") << "0123456789abcdef0123456789abcdef\n";
  std::ofstream(root / "var/secrets/api-token") << "test-token\n";
  Diagnostics diags;
  auto c = LoadConfig((root / "deploy/ennakko.yaml").string(), diags);
  INFO(diags.ToString());
  REQUIRE(c.ok());
  CHECK(c->file_channel_directory.has_value());
  CHECK(c->demo);
  CHECK(c->pseudonym_key == "0123456789abcdef0123456789abcdef");
  CHECK(c->http_token == "test-token");
  CHECK(c->store_path == (root / "var/ennakko.db").string());
}

TEST_CASE("paths resolve against the config's directory and secrets come from files and env", "[config]") {
  std::string key = Write("key.txt", "a-very-long-pseudonym-key-for-tests\n");
  std::string path = Write("valid.yaml", kValid);
  ::setenv("ENNAKKO_TEST_SMS_PW", "s3cret", 1);
  Diagnostics diags;
  auto c = LoadConfig(path, diags);
  INFO(diags.ToString());
  REQUIRE(c.ok());
  fs::path dir = fs::path(path).parent_path();
  CHECK(c->store_path == (dir.parent_path() / "var/ennakko.db").string());
  CHECK(c->audit_path == (dir / "audit.jsonl").string());
  CHECK(c->rules_directory == "/srv/rules");
  CHECK(c->pseudonym_key == "a-very-long-pseudonym-key-for-tests");
  CHECK(c->sms->password == "s3cret");
  CHECK(c->http_token == "inline-token");
  CHECK(c->demo_seed == 7);
}

TEST_CASE("config errors name file, line and key path; unknown keys are errors", "[config]") {
  Write("key.txt", "a-very-long-pseudonym-key-for-tests\n");
  std::string text = kValid;
  text += "dispatch: {workers: 0, colour: red}\n";
  std::string path = Write("bad.yaml", text);
  ::unsetenv("ENNAKKO_TEST_SMS_PW");
  Diagnostics diags;
  auto c = LoadConfig(path, diags);
  REQUIRE_FALSE(c.ok());
  std::string out = diags.ToString();
  INFO(out);
  CHECK(out.find(path + ":11:24: error: unknown key 'colour' in /dispatch") != std::string::npos);
  CHECK(out.find(path + ":11:21: error: /dispatch/workers:") != std::string::npos);
}

TEST_CASE("a missing secret is reported where it is configured", "[config]") {
  Write("key.txt", "a-very-long-pseudonym-key-for-tests\n");
  std::string path = Write("nosecret.yaml", kValid);
  ::unsetenv("ENNAKKO_TEST_SMS_PW");
  Diagnostics diags;
  auto c = LoadConfig(path, diags);
  REQUIRE_FALSE(c.ok());
  CHECK(diags.ToString().find(path + ":9:") != std::string::npos);
  CHECK(diags.ToString().find("environment variable ENNAKKO_TEST_SMS_PW is not set") != std::string::npos);
}

TEST_CASE("email and Suomi.fi channels are configured with secrets like the others", "[config]") {
  Write("key.txt", "a-very-long-pseudonym-key-for-tests\n");
  Write("smtp-password", "smtp-secret\n");
  ::setenv("ENNAKKO_TEST_SMS_PW", "s3cret", 1);
  ::setenv("ENNAKKO_TEST_SUOMIFI_PW", "sfi-secret", 1);
  std::string text = kValid;
  text.replace(text.find("channels:\n"), 10,
               "channels:\n"
               "  email: {smtp_url: \"smtp://127.0.0.1:2525\", require_starttls: false, username: u, "
               "password: {file: smtp-password}, from: \"Helsingin kaupunki <ennakko@example.fi>\"}\n"
               "  suomifi: {base_url: \"http://127.0.0.1:9000\", username: city, password: {env: ENNAKKO_TEST_SUOMIFI_PW}, "
               "service_id: helsinki-ennakko}\n");
  std::string path = Write("channels.yaml", text);
  Diagnostics diags;
  auto c = LoadConfig(path, diags);
  INFO(diags.ToString());
  REQUIRE(c.ok());
  REQUIRE(c->email);
  CHECK(c->email->password == "smtp-secret");
  CHECK_FALSE(c->email->require_starttls);
  REQUIRE(c->suomifi);
  CHECK(c->suomifi->password == "sfi-secret");
  CHECK(c->suomifi->service_id == "helsinki-ennakko");
}

TEST_CASE("Suomi.fi paper mail: sender, Posti account and printing options", "[config]") {
  Write("key.txt", "a-very-long-pseudonym-key-for-tests\n");
  Write("posti-password", "1234\n");
  ::setenv("ENNAKKO_TEST_SMS_PW", "s3cret", 1);
  std::string text = kValid;
  const std::string paper =
      "channels:\n"
      "  suomifi:\n"
      "    base_url: \"http://127.0.0.1:9000\"\n"
      "    username: city\n"
      "    password: pw\n"
      "    service_id: helsinki-ennakko\n"
      "    paper:\n"
      "      sender: {name: Helsingin kaupunki, street_address: Pohjoisesplanadi 11-13, zip_code: \"00170\", city: HELSINKI}\n"
      "      posti: {username: HKI001, password: {file: posti-password}, contact_email: posti@example.fi, cost_pool: KASV1}\n"
      "      two_sided_printing: true\n"
      "      create_address_page: false\n"
      "      reply_instructions: {fi: Soita 09 310 12345., sv: Ring 09 310 12345.}\n";
  text.replace(text.find("channels:\n"), 10, paper);
  std::string path = Write("paper.yaml", text);
  Diagnostics diags;
  auto c = LoadConfig(path, diags);
  INFO(diags.ToString());
  REQUIRE(c.ok());
  REQUIRE(c->suomifi);
  REQUIRE(c->suomifi->paper);
  const SuomiFiPaperConfig& p = *c->suomifi->paper;
  CHECK(p.sender_name == "Helsingin kaupunki");
  CHECK(p.sender_zip_code == "00170");
  CHECK(p.sender_country_code == "FI");
  CHECK(p.posti_username == "HKI001");
  CHECK(p.posti_password == "1234");
  CHECK(p.cost_pool == "KASV1");
  CHECK(p.two_sided_printing);
  CHECK_FALSE(p.color_printing);
  CHECK_FALSE(p.create_address_page);
  CHECK(p.reply_instructions.at("sv") == "Ring 09 310 12345.");

  // A Posti username of the wrong length is a schema error at its line.
  std::string bad = text;
  bad.replace(bad.find("HKI001"), 6, "HKI");
  std::string bad_path = Write("paper-bad.yaml", bad);
  Diagnostics bad_diags;
  CHECK_FALSE(LoadConfig(bad_path, bad_diags).ok());
  CHECK(bad_diags.ToString().find("/channels/suomifi/paper/posti/username") != std::string::npos);
}

TEST_CASE("dispatch controls: rate limits, quiet hours, circuit breaker, mailbox status", "[config]") {
  ::setenv("ENNAKKO_TEST_SMS_PW", "pw", 1);
  Write("key.txt", "0123456789abcdef0123456789abcdef\n");
  std::string text = std::string(kValid) + R"(dispatch:
  batch_size: 500
  rate_limits: {sms: {per_second: 20, burst: 40}, email: {per_second: 5}}
  quiet_hours: {email: {start: "22:00", end: "07:30"}}
  circuit_breaker: {failure_threshold: 3, cool_down_ms: 10000}
  mailbox_status: {max_age_hours: 12, retry_ms: 5000, batch: 5000}
)";
  Diagnostics diags;
  auto c = LoadConfig(Write("dispatch.yaml", text), diags);
  INFO(diags.ToString());
  REQUIRE(c.ok());
  CHECK(c->dispatch.batch_size == 500);
  CHECK(c->dispatch.rate_limits.at("sms").per_second == 20);
  CHECK(c->dispatch.rate_limits.at("sms").burst == 40);
  CHECK(c->dispatch.rate_limits.at("email").burst == 5);
  CHECK(c->dispatch.quiet_hours.at("sms").ToString() == "21:00–08:00");  // the default stays
  CHECK(c->dispatch.quiet_hours.at("email").ToString() == "22:00–07:30");
  CHECK(c->dispatch.circuit_breaker.failure_threshold == 3);
  CHECK(c->dispatch.circuit_breaker.cool_down == std::chrono::milliseconds(10000));
  CHECK(c->mailbox_status.max_age == std::chrono::hours(12));
  CHECK(c->mailbox_status.batch == 5000);
  CHECK(c->dispatch.mailbox_retry == std::chrono::milliseconds(5000));

  Diagnostics bad;
  std::string wrong = std::string(kValid) + "dispatch:\n  quiet_hours: {sms: {start: \"25:00\", end: \"08:00\"}}\n";
  CHECK_FALSE(LoadConfig(Write("dispatch-bad.yaml", wrong), bad).ok());
  CHECK(bad.ToString().find("dispatch-bad.yaml:12:") != std::string::npos);
  CHECK(bad.ToString().find("between 00:00 and 23:59") != std::string::npos);
}

TEST_CASE("registry connectors refuse plain http to another host", "[config]") {
  Write("key.txt", "0123456789abcdef0123456789abcdef\n");
  ::setenv("ENNAKKO_TEST_SMS_PW", "pw", 1);
  auto load = [](const std::string& url, Diagnostics& diags) {
    std::string text = std::string(kValid) + "connectors:\n  vtj:\n    base_url: \"" + url +
                       "\"\n    username: city\n    password: pw\n    start_date: \"2026-11-01\"\n";
    return LoadConfig(Write("vtj.yaml", text), diags);
  };
  Diagnostics local;
  auto ok = load("http://127.0.0.1:8443", local);
  INFO(local.ToString());
  CHECK(ok.ok());
  Diagnostics tls;
  CHECK(load("https://vtj.example.fi", tls).ok());
  Diagnostics clear;
  CHECK_FALSE(load("http://vtj.example.fi", clear).ok());
  CHECK(clear.ToString().find("clear text") != std::string::npos);
}
