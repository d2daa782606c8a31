// The daemon's configuration: a YAML file validated against schemas/config.schema.json.
//
// Every problem is reported with file:line:col and the key path; unknown keys are errors. Secrets
// (pseudonym key, passwords, API token) may be written inline, or as {env: NAME} or {file: PATH}.
// Relative paths are resolved against the config file's directory, so a config works from any
// working directory. A Config is a plain value: copy it freely.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "engine/base/status.h"
#include "engine/dispatch/dispatcher.h"
#include "engine/dispatch/mailbox_status.h"
#include "engine/lang/diagnostics.h"

namespace ennakko {

struct SmsChannelConfig {
  std::string sendsms_url;
  std::string username;
  std::string password;
  std::string from;
  int max_messages = 3;
  int timeout_ms = 5000;
};

struct EmailChannelConfig {
  std::string smtp_url;
  bool require_starttls = true;
  std::string username;
  std::string password;
  std::string from;
  int timeout_ms = 10000;
  std::string ca_file;
};

// channels.suomifi.paper: the "paper" channel (multichannel messages with a PDF letter).
struct SuomiFiPaperConfig {
  std::string sender_name, sender_street_address, sender_zip_code, sender_city;
  std::string sender_country_code = "FI";
  std::string posti_username, posti_password, contact_email, cost_pool;
  bool color_printing = false;
  bool two_sided_printing = false;
  bool create_address_page = true;
  std::map<std::string, std::string> reply_instructions;  // by language: fi, sv, en
};

struct SuomiFiChannelConfig {
  std::string base_url;
  std::string username;
  std::string password;
  std::string service_id;
  int timeout_ms = 10000;
  std::optional<SuomiFiPaperConfig> paper;
};

// connectors.vtj (docs/vtj-connector.md).
struct VtjConnectorConfig {
  std::string base_url;
  std::string username;
  std::string password;
  std::string start_date;  // YYYY-MM-DD, checked when loading
  int poll_every_seconds = 3600;
  std::string ca_file;
  int timeout_ms = 30000;
  std::string initial_load_file;
};

struct IncomesConnectorConfig {
  std::string base_url;
  std::string username;
  std::string password;
  std::string purpose = "ecec-fee-income";
  int poll_every_seconds = 3600;
  int window_days = 62;
  int timeout_ms = 10000;
};

// Replies, delivery reports, reminders (engine/dispatch/reply_desk.h, offer_lifecycle.h).
struct RepliesConfig {
  std::string signing_key;        // HMAC key of reply links and Kannel delivery-report URLs
  std::string link_base_url;      // public URL of the reply page (served at /reply)
  int link_valid_days = 60;
  std::string sms_secret;         // in Kannel's sms-service get-url: ?secret=...
  std::string dlr_url;            // the daemon's /api/v1/sms/dlr as Kannel reaches it
  // With dlr_url: how long an SMS cut off after its hand-over waits for a delivery report before
  // it is sent again (KannelSmsOptions::receipt_wait); 0 (the default): never sent again. Only
  // with Kannel's smsbox retrying report calls for longer than the daemon can be down.
  int receipt_wait_seconds = 0;
  int lifecycle_every_seconds = 60;        // reminders and expiry
  int suomifi_events_every_seconds = 300;  // events feed poll
  int test_day_seconds = 0;       // TEST ONLY: length of a rule's "d" in seconds (0 = a real day)
};

struct Config {
  std::string file;  // the config file itself

  std::string store_path;
  bool store_synchronous_full = true;

  std::string audit_path;
  std::string pseudonym_key;

  std::string rules_directory;
  int evaluate_every_seconds = 3600;

  std::string population_directory;
  int population_poll_every_seconds = 10;
  bool demo = false;  // generate a demo city into an empty population directory
  uint64_t demo_seed = 42;
  int demo_residents = 50000;

  std::optional<VtjConnectorConfig> vtj;

  std::optional<std::string> file_channel_directory;
  std::optional<SmsChannelConfig> sms;
  std::optional<EmailChannelConfig> email;
  std::optional<SuomiFiChannelConfig> suomifi;

  std::optional<IncomesConnectorConfig> incomes;  // connectors.incomes

  DispatcherOptions dispatch;
  std::optional<RepliesConfig> replies;
  MailboxStatusOptions mailbox_status;  // dispatch.mailbox_status: Suomi.fi mailbox cache

  std::string http_address = "127.0.0.1";
  int http_port = 8080;
  std::string http_token;

  std::string log_level = "info";
};

// Loads and validates `path`. On failure every problem is in `diags` and the result is an error.
Result<Config> LoadConfig(const std::string& path, Diagnostics& diags);

}  // namespace ennakko
