// The daemon's configuration: a YAML file validated against schemas/config.schema.json.
//
// Every problem is reported with file:line:col and the key path; unknown keys are errors. Secrets
// (pseudonym key, passwords, API token) may be written inline, or as {env: NAME} or {file: PATH}.
// Relative paths are resolved against the config file's directory, so a config works from any
// working directory. A Config is a plain value: copy it freely.
#pragma once

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

struct SuomiFiChannelConfig {
  std::string base_url;
  std::string username;
  std::string password;
  std::string service_id;
  int timeout_ms = 10000;
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

  std::optional<std::string> file_channel_directory;
  std::optional<SmsChannelConfig> sms;
  std::optional<EmailChannelConfig> email;
  std::optional<SuomiFiChannelConfig> suomifi;

  DispatcherOptions dispatch;
  MailboxStatusOptions mailbox_status;  // dispatch.mailbox_status: Suomi.fi mailbox cache

  std::string http_address = "127.0.0.1";
  int http_port = 8080;
  std::string http_token;

  std::string log_level = "info";
};

// Loads and validates `path`. On failure every problem is in `diags` and the result is an error.
Result<Config> LoadConfig(const std::string& path, Diagnostics& diags);

}  // namespace ennakko
