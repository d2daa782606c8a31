#include "connectors/channels/suomifi_events.h"

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <nlohmann/json.hpp>

#include "connectors/http/http_client.h"

namespace ennakko {

namespace {

std::string Text(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return "";
  const auto& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return "";
}

}  // namespace

SuomiFiDelivery DeliveryMeaning(const SuomiFiEvent& e) {
  using K = SuomiFiDelivery::Kind;
  if (e.type == "Electronic message read") return {K::kDelivered, "read", ""};
  if (e.type == "Sent for printing and enveloping" || e.type == "Paper mail created") return {K::kDelivered, "paper", ""};
  if (e.type == "Receipt confirmed" || e.type == "Posti: receipt confirmed") return {K::kDelivered, "receipt", ""};
  if (e.type == "Posti: returned to sender") {
    return {K::kFailed, "", "Posti: returned to sender" +
                                (e.posti_tracking_code.empty() ? "" : " (tracking " + e.posti_tracking_code + ")")};
  }
  return {};
}

Result<std::string> SuomiFiEventsClient::Token() {
  std::lock_guard lock(mu_);
  if (!token_.empty()) return token_;
  nlohmann::json request = {{"username", options_.username}, {"password", options_.password}};
  auto reply = HttpCall("POST", options_.base_url + "/v1/token", request.dump(),
                        {{"Content-Type", "application/json"}}, options_.timeout);
  if (!reply.ok()) return Status::Unavailable("suomifi events token: " + reply.status().message());
  if (reply->status != 200) return Status::Unavailable("suomifi events token: HTTP " + std::to_string(reply->status));
  auto j = nlohmann::json::parse(reply->body, nullptr, false);
  std::string token = Text(j, "access_token");
  if (token.empty()) return Status::Unavailable("suomifi events token: reply without access_token");
  token_ = token;
  return token_;
}

Result<SuomiFiEventsPage> SuomiFiEventsClient::Fetch(const std::string& continuation_token) {
  std::string url = options_.base_url + "/v2/events";
  if (!continuation_token.empty()) {
    url += "?continuationToken=" + boost::urls::encode(continuation_token, boost::urls::unreserved_chars);
  }
  Result<HttpClientResult> reply = Status::Internal("unset");
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto token = Token();
    if (!token.ok()) return token.status();
    reply = HttpCall("GET", url, "", {{"Authorization", "Bearer " + *token}}, options_.timeout);
    if (!reply.ok()) return Status::Unavailable("suomifi events: " + reply.status().message());
    if (reply->status != 401) break;
    std::lock_guard lock(mu_);
    if (token_ == *token) token_.clear();  // expired: renew once
  }
  if (reply->status == 429 || reply->status >= 500 || reply->status == 401) {
    return Status::Unavailable("suomifi events: HTTP " + std::to_string(reply->status));
  }
  if (reply->status != 200) return Status::Permanent("suomifi events: HTTP " + std::to_string(reply->status));
  auto j = nlohmann::json::parse(reply->body, nullptr, false);
  if (!j.is_object() || !j.contains("events") || !j["events"].is_array()) {
    return Status::Unavailable("suomifi events: reply without an events array");
  }
  SuomiFiEventsPage page;
  page.continuation_token = Text(j, "continuationToken");
  if (page.continuation_token.empty()) page.continuation_token = continuation_token;
  for (const auto& e : j["events"]) {
    if (!e.is_object()) continue;
    SuomiFiEvent event;
    event.type = Text(e, "type");
    event.event_time = Text(e, "eventTime");
    const nlohmann::json meta = e.contains("metadata") ? e["metadata"] : nlohmann::json::object();
    event.message_id = Text(meta, "messageId");
    event.external_id = Text(meta, "externalId");
    event.posti_tracking_code = Text(meta, "postiTrackingCode");
    page.events.push_back(std::move(event));
  }
  return page;
}

}  // namespace ennakko
