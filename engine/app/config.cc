#include "engine/app/config.h"

#include "engine/base/date.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/app/dispatch_config.h"
#include "engine/lang/json_schema.h"
#include "engine/lang/yaml_source.h"
#include "schemas/embedded_schemas.h"

namespace fs = std::filesystem;

namespace ennakko {

namespace {

// Credentials and identity codes go to registry connectors: plain http only to this machine
// (a test double, or a local TLS-terminating proxy).
bool ClearTextToAnotherHost(const std::string& url) {
  if (url.rfind("http://", 0) != 0) return false;
  std::string host = url.substr(7, url.find_first_of(":/", 7) - 7);
  return !(host == "127.0.0.1" || host == "localhost" || host == "[::1]");
}


class Reader {
 public:
  Reader(const YamlDocument& doc, Diagnostics& diags) : doc_(doc), diags_(diags) {
    base_ = fs::absolute(fs::path(doc.file())).parent_path();
  }

  const nlohmann::json* Get(const std::string& pointer) const {
    try {
      const auto& v = doc_.json().at(nlohmann::json::json_pointer(pointer));
      return &v;
    } catch (...) {
      return nullptr;
    }
  }

  template <typename T>
  void Opt(const std::string& pointer, T& out) const {
    if (const auto* v = Get(pointer)) out = v->get<T>();
  }

  std::string Path(const std::string& pointer) const {
    const auto* v = Get(pointer);
    if (!v) return "";
    fs::path p(v->get<std::string>());
    return (p.is_absolute() ? p : (base_ / p)).lexically_normal().string();
  }

  // A secret: inline string, {env: NAME} or {file: PATH}.
  std::string Secret(const std::string& pointer) const {
    const auto* v = Get(pointer);
    if (!v) return "";
    if (v->is_string()) return v->get<std::string>();
    if (v->contains("env")) {
      std::string name = (*v)["env"];
      const char* value = std::getenv(name.c_str());
      if (!value || !*value) {
        diags_.Error(doc_.At(pointer + "/env"), pointer + ": environment variable " + name + " is not set",
                     "export " + name + " before starting, or use {file: PATH}");
        return "";
      }
      return value;
    }
    fs::path p((*v)["file"].get<std::string>());
    if (!p.is_absolute()) p = base_ / p;
    std::ifstream f(p);
    if (!f) {
      diags_.Error(doc_.At(pointer + "/file"), pointer + ": cannot read secret file " + p.string());
      return "";
    }
    std::stringstream ss;
    ss << f.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (s.empty()) diags_.Error(doc_.At(pointer + "/file"), pointer + ": secret file " + p.string() + " is empty");
    return s;
  }

 private:
  const YamlDocument& doc_;
  Diagnostics& diags_;
  fs::path base_;
};

}  // namespace

Result<Config> LoadConfig(const std::string& path, Diagnostics& diags) {
  auto doc = LoadYamlFile(path, diags);
  if (!doc.ok()) return doc.status();
  auto schema = SchemaValidator::FromJson(nlohmann::json::parse(EmbeddedSchema("config")));
  if (!schema.ok()) return schema.status();
  if (!(*schema)->Validate(*doc, diags)) return Status::Invalid("configuration " + path + " is invalid");

  Reader r(*doc, diags);
  Config c;
  c.file = path;
  c.store_path = r.Path("/store/path");
  std::string sync = "full";
  r.Opt("/store/synchronous", sync);
  c.store_synchronous_full = sync == "full";
  c.audit_path = r.Path("/audit/path");
  c.pseudonym_key = r.Secret("/audit/pseudonym_key");
  if (!c.pseudonym_key.empty() && c.pseudonym_key.size() < 16) {
    diags.Error(doc->At("/audit/pseudonym_key"), "/audit/pseudonym_key: the key is shorter than 16 bytes",
                "use a random key, e.g. `openssl rand -hex 32`");
  }
  c.rules_directory = r.Path("/rules/directory");
  r.Opt("/rules/evaluate_every_seconds", c.evaluate_every_seconds);
  c.population_directory = r.Path("/population/directory");
  r.Opt("/population/poll_every_seconds", c.population_poll_every_seconds);
  if (r.Get("/population/demo")) {
    c.demo = true;
    r.Opt("/population/demo/seed", c.demo_seed);
    r.Opt("/population/demo/residents", c.demo_residents);
  }
  if (r.Get("/connectors/vtj")) {
    VtjConnectorConfig v;
    r.Opt("/connectors/vtj/base_url", v.base_url);
    if (ClearTextToAnotherHost(v.base_url)) {
      diags.Error(doc->At("/connectors/vtj/base_url"),
                  "/connectors/vtj/base_url: plain http to another host would send credentials and identity codes in clear text",
                  "use https://");
    }
    r.Opt("/connectors/vtj/username", v.username);
    v.password = r.Secret("/connectors/vtj/password");
    r.Opt("/connectors/vtj/start_date", v.start_date);
    if (!Date::Parse(v.start_date)) {
      diags.Error(doc->At("/connectors/vtj/start_date"), "/connectors/vtj/start_date: not a valid date");
    }
    r.Opt("/connectors/vtj/poll_every_seconds", v.poll_every_seconds);
    if (r.Get("/connectors/vtj/ca_file")) v.ca_file = r.Path("/connectors/vtj/ca_file");
    r.Opt("/connectors/vtj/timeout_ms", v.timeout_ms);
    if (r.Get("/connectors/vtj/initial_load_file")) v.initial_load_file = r.Path("/connectors/vtj/initial_load_file");
    c.vtj = v;
  }
  if (r.Get("/channels/file")) c.file_channel_directory = r.Path("/channels/file/directory");
  if (r.Get("/channels/sms")) {
    SmsChannelConfig s;
    r.Opt("/channels/sms/sendsms_url", s.sendsms_url);
    r.Opt("/channels/sms/username", s.username);
    s.password = r.Secret("/channels/sms/password");
    r.Opt("/channels/sms/from", s.from);
    r.Opt("/channels/sms/max_messages", s.max_messages);
    r.Opt("/channels/sms/timeout_ms", s.timeout_ms);
    c.sms = s;
  }
  if (r.Get("/channels/email")) {
    EmailChannelConfig e;
    r.Opt("/channels/email/smtp_url", e.smtp_url);
    r.Opt("/channels/email/require_starttls", e.require_starttls);
    r.Opt("/channels/email/username", e.username);
    e.password = r.Secret("/channels/email/password");
    r.Opt("/channels/email/from", e.from);
    r.Opt("/channels/email/timeout_ms", e.timeout_ms);
    if (r.Get("/channels/email/ca_file")) e.ca_file = r.Path("/channels/email/ca_file");
    c.email = e;
  }
  if (r.Get("/channels/suomifi")) {
    SuomiFiChannelConfig f;
    r.Opt("/channels/suomifi/base_url", f.base_url);
    r.Opt("/channels/suomifi/username", f.username);
    f.password = r.Secret("/channels/suomifi/password");
    r.Opt("/channels/suomifi/service_id", f.service_id);
    r.Opt("/channels/suomifi/timeout_ms", f.timeout_ms);
    if (r.Get("/channels/suomifi/paper")) {
      const std::string p = "/channels/suomifi/paper";
      SuomiFiPaperConfig paper;
      r.Opt(p + "/sender/name", paper.sender_name);
      r.Opt(p + "/sender/street_address", paper.sender_street_address);
      r.Opt(p + "/sender/zip_code", paper.sender_zip_code);
      r.Opt(p + "/sender/city", paper.sender_city);
      r.Opt(p + "/sender/country_code", paper.sender_country_code);
      r.Opt(p + "/posti/username", paper.posti_username);
      paper.posti_password = r.Secret(p + "/posti/password");
      r.Opt(p + "/posti/contact_email", paper.contact_email);
      r.Opt(p + "/posti/cost_pool", paper.cost_pool);
      r.Opt(p + "/color_printing", paper.color_printing);
      r.Opt(p + "/two_sided_printing", paper.two_sided_printing);
      r.Opt(p + "/create_address_page", paper.create_address_page);
      r.Opt(p + "/reply_instructions", paper.reply_instructions);
      f.paper = paper;
    }
    c.suomifi = f;
  }
  if (r.Get("/connectors/incomes")) {
    IncomesConnectorConfig in;
    r.Opt("/connectors/incomes/base_url", in.base_url);
    if (ClearTextToAnotherHost(in.base_url)) {
      diags.Error(doc->At("/connectors/incomes/base_url"),
                  "/connectors/incomes/base_url: plain http to another host would send credentials and identity codes in clear text",
                  "use https://");
    }
    r.Opt("/connectors/incomes/username", in.username);
    in.password = r.Secret("/connectors/incomes/password");
    r.Opt("/connectors/incomes/purpose", in.purpose);
    r.Opt("/connectors/incomes/poll_every_seconds", in.poll_every_seconds);
    r.Opt("/connectors/incomes/window_days", in.window_days);
    r.Opt("/connectors/incomes/timeout_ms", in.timeout_ms);
    c.incomes = in;
  }
  r.Opt("/dispatch/workers", c.dispatch.workers);
  r.Opt("/dispatch/max_attempts", c.dispatch.max_attempts);
  if (const auto* v = r.Get("/dispatch/initial_backoff_ms")) c.dispatch.initial_backoff = std::chrono::milliseconds(v->get<int64_t>());
  if (const auto* v = r.Get("/dispatch/max_backoff_ms")) c.dispatch.max_backoff = std::chrono::milliseconds(v->get<int64_t>());
  if (r.Get("/replies")) {
    RepliesConfig rc;
    rc.signing_key = r.Secret("/replies/signing_key");
    if (rc.signing_key.size() < 16) {  // empty too: an empty HMAC key makes links forgeable
      diags.Error(doc->At("/replies/signing_key"), "/replies/signing_key: the key is shorter than 16 bytes",
                  "use a random key, e.g. `openssl rand -hex 32`");
    }
    r.Opt("/replies/link_base_url", rc.link_base_url);
    r.Opt("/replies/link_valid_days", rc.link_valid_days);
    rc.sms_secret = r.Secret("/replies/sms_secret");
    r.Opt("/replies/dlr_url", rc.dlr_url);
    r.Opt("/replies/receipt_wait_seconds", rc.receipt_wait_seconds);
    r.Opt("/replies/lifecycle_every_seconds", rc.lifecycle_every_seconds);
    r.Opt("/replies/suomifi_events_every_seconds", rc.suomifi_events_every_seconds);
    r.Opt("/replies/test_day_seconds", rc.test_day_seconds);
    c.replies = rc;
  }
  ReadDispatchControls(*doc, c.dispatch, c.mailbox_status, diags);
  r.Opt("/http/address", c.http_address);
  r.Opt("/http/port", c.http_port);
  c.http_token = r.Secret("/http/token");
  r.Opt("/log/level", c.log_level);
  if (diags.has_errors()) return Status::Invalid("configuration " + path + " is invalid");
  return c;
}

}  // namespace ennakko
