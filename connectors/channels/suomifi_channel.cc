#include "connectors/channels/suomifi_channel.h"

#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <utility>

#include <boost/url/parse.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "connectors/channels/suomifi_replies.h"
#include "connectors/http/http_client.h"

namespace ennakko {
namespace {

using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using suomifi::Characters;
using suomifi::ReplyDetail;
using suomifi::Retryable;

constexpr size_t kMailboxBatch = 10000;  // the API's maxItems for endUsers

std::string MessageBody(const OutgoingMessage& m, const std::string& service_id) {
  json body = {
      {"externalId", m.idempotency_key},
      {"recipient", {{"id", m.recipient.hetu}}},
      {"sender", {{"serviceId", service_id}}},
      {"electronic", suomifi::ElectronicPart(m)},
  };
  return suomifi::Dump(body);
}

}  // namespace

namespace suomifi {

size_t Characters(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string Scrub(std::string text) {
  static const std::regex kHetuLike("[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-Y]");
  return std::regex_replace(text, kHetuLike, "<id>");
}

std::string ReplyDetail(const HttpClientResult& reply) {
  std::string detail = "suomifi " + std::to_string(reply.status);
  json j = json::parse(reply.body, nullptr, false);
  if (j.is_object()) {
    if (j.contains("reason") && j["reason"].is_string()) {
      detail += ": " + j["reason"].get<std::string>().substr(0, 200);
    }
    if (j.contains("validationErrors") && j["validationErrors"].is_array()) {
      std::vector<std::string> parts;
      for (const json& v : j["validationErrors"]) {
        if (!v.is_object()) continue;
        std::string part = v.value("errorCode", std::string());
        std::string error = v.value("error", std::string()).substr(0, 120);
        if (!error.empty()) part += part.empty() ? error : " (" + error + ")";
        if (!part.empty()) parts.push_back(std::move(part));
        if (parts.size() == 5) break;
      }
      if (!parts.empty()) {
        detail += " [";
        for (size_t i = 0; i < parts.size(); ++i) detail += (i ? "; " : "") + parts[i];
        detail += "]";
      }
    }
  }
  return Scrub(std::move(detail));
}

bool HasErrorCode(const HttpClientResult& reply, std::string_view code) {
  json j = json::parse(reply.body, nullptr, false);
  if (!j.is_object() || !j.contains("validationErrors") || !j["validationErrors"].is_array()) {
    return false;
  }
  for (const json& v : j["validationErrors"]) {
    if (v.is_object() && v.value("errorCode", std::string()) == code) return true;
  }
  return false;
}

std::string MessageId(const HttpClientResult& reply) {
  json j = json::parse(reply.body, nullptr, false);
  if (!j.is_object() || !j.contains("messageId")) return {};
  const json& id = j["messageId"];
  if (id.is_number_integer()) return std::to_string(id.get<int64_t>());
  if (id.is_string()) return id.get<std::string>();
  return {};
}

json ElectronicPart(const OutgoingMessage& m) {
  return {{"title", m.title},
          {"body", m.body},
          {"bodyFormat", "Text"},
          {"messageServiceType", "Normal"},
          {"replyAllowedBy", "No one"},
          {"visibility", "Normal"},
          {"attachments", json::array()},
          {"notifications",
           {{"senderDetailsInNotifications", "Organisation and service name"},
            {"unreadMessageNotification", {{"reminder", "Default reminder"}}}}}};
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string InvalidTexts(const OutgoingMessage& m) {
  const size_t key_len = Characters(m.idempotency_key);
  if (key_len < 1 || key_len > 256) return "suomifi: idempotency key must be 1..256 characters";
  const size_t title_len = Characters(m.title);
  if (title_len < 1 || title_len > 256) {
    return "suomifi: title must be 1..256 characters, is " + std::to_string(title_len);
  }
  const size_t body_len = Characters(m.body);
  if (body_len < 1 || body_len > 40000) {
    return "suomifi: body must be 1..40000 characters, is " + std::to_string(body_len);
  }
  return {};
}

}  // namespace suomifi

SuomiFiChannel::SuomiFiChannel(SuomiFiOptions options) : options_([&] {
  while (!options.base_url.empty() && options.base_url.back() == '/') options.base_url.pop_back();
  return std::move(options);
}()) {}

Status SuomiFiChannel::ValidateOptions(const SuomiFiOptions& options) {
  auto parsed = boost::urls::parse_uri(options.base_url);
  if (!parsed) return Status::Invalid("suomifi: base_url is not a URL");
  if (parsed->scheme() != "http") {
    return Status::Invalid(
        "suomifi: base_url must be http:// (TLS is not implemented yet: use a local proxy)");
  }
  if (options.username.empty()) return Status::Invalid("suomifi: username is empty");
  if (options.password.empty()) return Status::Invalid("suomifi: password is empty");
  const size_t n = Characters(options.service_id);
  if (n < 1 || n > 64) return Status::Invalid("suomifi: service_id must be 1..64 characters");
  if (options.timeout.count() <= 0) return Status::Invalid("suomifi: timeout must be positive");
  return Status::Ok();
}

std::string SuomiFiChannel::CannotReach(const Recipient& recipient) const {
  if (recipient.hetu.empty()) return "no identity code";
  return {};
}

Result<std::string> SuomiFiChannel::Token() {
  std::lock_guard lock(mu_);
  const auto now = SteadyClock::now();
  if (!token_.empty() && now < token_renew_at_) return token_;
  token_.clear();
  const json request = {{"username", options_.username}, {"password", options_.password}};
  auto reply = HttpCall("POST", options_.base_url + "/v1/token", request.dump(),
                        {{"Content-Type", "application/json"}}, options_.timeout);
  if (!reply.ok()) {
    if (reply.status().code() == StatusCode::kInvalidArgument) return reply.status();
    return Status::Unavailable("suomifi token: " + reply.status().message());
  }
  if (reply->status != 200) {
    // 400 means wrong credentials: an account problem that every message would meet, so it is
    // reported as Unavailable (retry until fixed) rather than failing the message.
    return Status::Unavailable(std::string(reply->status == 400 ? "suomifi token refused: "
                                                                : "suomifi token failed: ") +
                               ReplyDetail(*reply));
  }
  json j = json::parse(reply->body, nullptr, false);
  if (!j.is_object() || !j.contains("access_token") || !j["access_token"].is_string() ||
      j["access_token"].get_ref<const std::string&>().empty()) {
    return Status::Unavailable("suomifi token: reply without access_token");
  }
  token_ = j["access_token"].get<std::string>();
  // Renew a little before the stated lifetime runs out (a tenth of it, at most a minute), so that
  // a request does not leave with a token about to expire; a 401 is still handled.
  int64_t lifetime_s = j.contains("expires_in") && j["expires_in"].is_number_integer()
                           ? j["expires_in"].get<int64_t>()
                           : 0;
  const auto lifetime = std::chrono::seconds(std::max<int64_t>(lifetime_s, 0));
  const auto margin = std::min<SteadyClock::duration>(std::chrono::seconds(60), lifetime / 10);
  token_renew_at_ = now + lifetime - margin;
  return token_;
}

void SuomiFiChannel::ForgetToken(const std::string& rejected) {
  std::lock_guard lock(mu_);
  if (token_ == rejected) token_.clear();
}

Result<HttpClientResult> SuomiFiChannel::AuthorizedPost(const std::string& path,
                                                        const std::string& body,
                                                        const std::string& content_type) {
  Result<HttpClientResult> reply = Status::Internal("unset");
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto token = Token();
    if (!token.ok()) return token.status();
    reply = HttpCall("POST", options_.base_url + path, body,
                     {{"Content-Type", content_type}, {"Authorization", "Bearer " + *token}},
                     options_.timeout);
    if (!reply.ok() || reply->status != 401) return reply;
    ForgetToken(*token);  // expired or revoked: renew and retry once
  }
  return reply;
}

SendOutcome SuomiFiChannel::Send(const OutgoingMessage& message) {
  if (std::string why = CannotReach(message.recipient); !why.empty()) {
    return SendOutcome::Permanent(why);
  }
  if (std::string why = suomifi::InvalidTexts(message); !why.empty()) {
    return SendOutcome::Permanent(why);
  }

  auto reply = AuthorizedPost("/v2/messages/electronic", MessageBody(message, options_.service_id));
  if (!reply.ok()) {
    spdlog::warn("suomifi: outbox {} ({}): {}", message.outbox_id, message.recipient.pseudonym,
                 reply.status().ToString());
    if (reply.status().code() == StatusCode::kInvalidArgument) {
      return SendOutcome::Permanent(reply.status().message());
    }
    return SendOutcome::Transient(reply.status().message());
  }

  SendOutcome outcome;
  const int status = reply->status;
  if (status == 200 || status == 409) {
    // 409: this externalId was accepted before (a retry after a lost reply): already delivered.
    outcome = SendOutcome::Sent(suomifi::MessageId(*reply));
    spdlog::debug("suomifi: outbox {} ({}) {} as message {}", message.outbox_id,
                  message.recipient.pseudonym, status == 200 ? "accepted" : "already accepted",
                  outcome.gateway_ref);
    return outcome;
  }
  if (status == 401) {
    outcome = SendOutcome::Transient("suomifi 401: a freshly issued token was rejected");
  } else if (Retryable(status)) {
    outcome = SendOutcome::Transient(ReplyDetail(*reply));
  } else if (status == 400 && suomifi::HasErrorCode(*reply, "MAILBOX_NOT_IN_USE")) {
    outcome = SendOutcome::Permanent("no active Suomi.fi mailbox");
  } else if (status >= 400 && status < 500) {
    outcome = SendOutcome::Permanent(ReplyDetail(*reply));
  } else {
    outcome = SendOutcome::Transient(ReplyDetail(*reply));  // 1xx/3xx: not the API's contract
  }
  spdlog::warn("suomifi: outbox {} ({}): {}", message.outbox_id, message.recipient.pseudonym,
               outcome.detail);
  return outcome;
}

Result<std::vector<std::string>> SuomiFiChannel::ActiveMailboxes(
    const std::vector<std::string>& ids) {
  std::set<std::string> active;
  for (size_t start = 0; start < ids.size(); start += kMailboxBatch) {
    const size_t end = std::min(ids.size(), start + kMailboxBatch);
    json users = json::array();
    for (size_t i = start; i < end; ++i) users.push_back(json{{"id", ids[i]}});
    const std::string body =
        json{{"endUsers", std::move(users)}}.dump(-1, ' ', false, json::error_handler_t::replace);
    auto reply = AuthorizedPost("/v1/mailboxes/active", body);
    if (!reply.ok()) {
      if (reply.status().code() == StatusCode::kInvalidArgument) return reply.status();
      return Status::Unavailable(reply.status().message());
    }
    if (reply->status == 401) {
      return Status::Unavailable("suomifi 401: a freshly issued token was rejected");
    }
    if (reply->status != 200) {
      std::string detail = ReplyDetail(*reply);
      if (Retryable(reply->status) || reply->status < 400) return Status::Unavailable(detail);
      return Status::Permanent(detail);
    }
    json j = json::parse(reply->body, nullptr, false);
    if (!j.is_object() || !j.contains("endUsersWithActiveMailbox") ||
        !j["endUsersWithActiveMailbox"].is_array()) {
      return Status::Unavailable("suomifi: mailboxes reply without endUsersWithActiveMailbox");
    }
    for (const json& u : j["endUsersWithActiveMailbox"]) {
      if (u.is_object() && u.contains("id") && u["id"].is_string()) active.insert(u["id"]);
    }
  }
  std::vector<std::string> out;
  for (const std::string& id : ids) {
    if (active.contains(id)) out.push_back(id);
  }
  return out;
}

}  // namespace ennakko
