// The operator's pause/resume of a service over the HTTP API:
//   POST /api/v1/services/pause  {"service": "preschool-offer"}  -> 200 {"service","paused":true,"changed"}
//   POST /api/v1/services/resume {"service": "preschool-offer"}  -> 200 {"service","paused":false,"changed"}
//   GET  /api/v1/services/paused                                 -> 200 [{"service","paused_at","paused_by"}]
// All need the bearer token (exact paths only). 400 for a body that is not {"service": string},
// 404 for a service no loaded rule has, 503 when the store cannot be written. A change is audited
// (service.paused / service.resumed) and shown in /metrics as ennakko_service_paused{service}.
//
// The pause itself is a row in the store (ServicePauses), so it survives a restart; the
// dispatcher skips paused services when it claims offers. Handlers run on HTTP threads: this
// object has its own connection to the store, behind a mutex. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "engine/api/http_server.h"
#include "engine/base/metrics.h"
#include "engine/dispatch/dispatcher.h"
#include "engine/dispatch/service_pauses.h"

namespace ennakko {

class ServicePauseApi {
 public:
  ServicePauseApi(std::string store_path, const Clock& clock, AuditFn audit, MetricsRegistry& metrics);
  // Opens the connection to the store (already migrated) and publishes the current pauses.
  Status Open();
  // The services that exist (from the loaded rule set); call again after a reload.
  void SetServices(const RuleSet& rules);
  // Adds the three routes. REQUIRES: Open() succeeded; before http.Start().
  void Register(HttpServer& http);

 private:
  HttpResponse Change(const HttpRequest& request, bool pause);
  HttpResponse ListPaused();
  void PublishMetrics();  // REQUIRES: mu_ held

  const std::string store_path_;
  const Clock& clock_;
  const AuditFn audit_;
  MetricsRegistry& metrics_;

  std::mutex mu_;
  // Protected by mu_:
  std::unique_ptr<Db> db_;
  std::unique_ptr<ServicePauses> pauses_;
  std::set<std::string> services_;
  std::set<std::string> published_;  // services with an ennakko_service_paused sample
};

}  // namespace ennakko
