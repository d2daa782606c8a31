#include "engine/app/service_pause_api.h"

#include <spdlog/spdlog.h>

namespace ennakko {

namespace {
HttpResponse Json(int status, const nlohmann::json& body) {
  return HttpResponse{status, "application/json", body.dump() + "\n"};
}
HttpResponse Error(int status, const std::string& message) { return Json(status, {{"error", message}}); }
}  // namespace

ServicePauseApi::ServicePauseApi(std::string store_path, const Clock& clock, AuditFn audit, MetricsRegistry& metrics)
    : store_path_(std::move(store_path)), clock_(clock), audit_(std::move(audit)), metrics_(metrics) {}

Status ServicePauseApi::Open() {
  std::lock_guard lock(mu_);
  auto db = Db::Open({.path = store_path_});
  if (!db.ok()) return db.status();
  db_ = std::move(*db);
  pauses_ = std::make_unique<ServicePauses>(*db_, clock_);
  metrics_.Describe("ennakko_service_paused", "gauge", "1 while an operator has paused the service's sends.");
  PublishMetrics();
  auto list = pauses_->List();
  if (list.ok()) {
    for (const auto& p : *list) spdlog::warn("dispatch: service {} is paused (since {}); resume with POST /api/v1/services/resume", p.service, p.paused_at);
  }
  return Status::Ok();
}

void ServicePauseApi::SetServices(const RuleSet& rules) {
  std::lock_guard lock(mu_);
  services_.clear();
  for (const auto& r : rules.sources().rules) services_.insert(r.service);
}

void ServicePauseApi::PublishMetrics() {
  auto list = pauses_->List();
  if (!list.ok()) return;
  std::set<std::string> now;
  for (const auto& p : *list) now.insert(p.service);
  for (const auto& s : published_) if (!now.contains(s)) metrics_.Set("ennakko_service_paused", {{"service", s}}, 0);
  for (const auto& s : now) metrics_.Set("ennakko_service_paused", {{"service", s}}, 1);
  published_.insert(now.begin(), now.end());
}

HttpResponse ServicePauseApi::Change(const HttpRequest& request, bool pause) {
  auto body = nlohmann::json::parse(request.body, nullptr, false);
  if (!body.is_object() || !body.contains("service") || !body["service"].is_string() ||
      body["service"].get_ref<const std::string&>().empty()) {
    return Error(400, "expected a JSON body {\"service\": \"<service name>\"}");
  }
  const std::string service = body["service"];
  std::lock_guard lock(mu_);
  if (!services_.contains(service)) return Error(404, "no loaded rule has service " + service.substr(0, 100));
  auto changed = pause ? pauses_->Pause(service, "http") : pauses_->Resume(service);
  if (!changed.ok()) {
    spdlog::error("dispatch: could not {} {}: {}", pause ? "pause" : "resume", service, changed.status().ToString());
    return Error(503, "the store could not be written; try again");
  }
  if (*changed) {
    audit_(pause ? "service.paused" : "service.resumed", {{"service", service}, {"trigger", "http"}});
    spdlog::warn("dispatch: service {} {} through the HTTP API", service, pause ? "paused" : "resumed");
    PublishMetrics();
  }
  return Json(200, {{"service", service}, {"paused", pause}, {"changed", *changed}});
}

HttpResponse ServicePauseApi::ListPaused() {
  std::lock_guard lock(mu_);
  auto list = pauses_->List();
  if (!list.ok()) return Error(503, "the store could not be read");
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : *list) out.push_back({{"service", p.service}, {"paused_at", p.paused_at}, {"paused_by", p.by}});
  return Json(200, out);
}

void ServicePauseApi::Register(HttpServer& http) {
  http.AddRoute("POST", "/api/v1/services/pause", [this](const HttpRequest& r) { return Change(r, true); }, true);
  http.AddRoute("POST", "/api/v1/services/resume", [this](const HttpRequest& r) { return Change(r, false); }, true);
  http.AddRoute("GET", "/api/v1/services/paused", [this](const HttpRequest&) { return ListPaused(); }, true);
}

}  // namespace ennakko
