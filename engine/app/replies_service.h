// Wires the reply loop into the daemon: the HTTP routes for SMS answers (Kannel sms-service),
// Kannel delivery reports and signed reply links; the dispatcher's extra message values
// ({{reply_link}}, {{reminder}}, the offer's {{reply_code}} in reminders); and the main-loop
// tick that sends reminders, expires unanswered offers and reads the Suomi.fi events feed.
//
// Routes (none uses the bearer token: Kannel cannot send one, and residents click links):
//   GET  /api/v1/sms/inbound?secret=S&from=%p&text=%a  -> 200 text/plain: the answer SMS
//        (403 with an empty body on a wrong secret: Kannel then sends nothing)
//   GET  /api/v1/sms/dlr?id=N&sig=HMAC&status=%d       -> 204; 403 on a wrong signature
//   GET  /reply?t=TOKEN   -> the offer and an accept/decline form (never changes anything)
//   POST /reply           -> form fields t, answer=accept|decline: records the answer
// Query strings hold phone numbers and secrets: the HTTP server never logs them, and neither
// does this file.
//
// Threading: route handlers run on the HTTP server's thread(s) and share one store connection
// of their own behind a mutex; Tick runs on the main loop thread with the main connection.
// SetRules may be called from the main thread at any time.
#pragma once

#include <chrono>
#include <functional>
#include <ostream>
#include <memory>
#include <mutex>

#include "connectors/channels/suomifi_events.h"
#include "engine/api/http_server.h"
#include "engine/app/config.h"
#include "engine/base/metrics.h"
#include "engine/dispatch/reply_desk.h"

namespace ennakko {

class RepliesService {
 public:
  // `flush_audit` makes the audit events of a handled request durable before it is answered.
  RepliesService(const Config& config, const Clock& clock, AuditFn audit, PseudonymFn pseudonym,
                 std::function<void()> flush_audit);
  ~RepliesService();

  // Opens the handlers' own store connection. REQUIRES: config.replies is set.
  Status Open();
  void SetRules(std::shared_ptr<const RuleSet> rules);
  // REQUIRES: before http.Start().
  void AddRoutes(HttpServer& http);
  Dispatcher::MessageValuesFn MessageValues() const;

  // Reminders, expiry and the Suomi.fi events feed when their intervals have passed. Returns
  // true when anything changed (the caller then saves the audit head and refreshes metrics).
  bool Tick(Db& db);

 private:
  const RuleSpec* RuleFor(const std::shared_ptr<const RuleSet>& rules, const std::string& service) const;
  std::shared_ptr<const RuleSet> Rules() const;
  int PollSuomiFiEvents(Db& db);
  HttpResponse Inbound(const HttpRequest& r);
  HttpResponse Dlr(const HttpRequest& r);
  HttpResponse ReplyPageGet(const HttpRequest& r);
  HttpResponse ReplyPagePost(const HttpRequest& r);

  // Constant after construction.
  const Config config_;
  const RepliesConfig replies_;
  const Clock& clock_;
  const AuditFn audit_;
  const PseudonymFn pseudonym_;
  const std::function<void()> flush_audit_;
  const ReplyDeskOptions desk_options_;
  std::unique_ptr<SuomiFiEventsClient> events_;  // when Suomi.fi is configured

  mutable std::mutex rules_mu_;
  std::shared_ptr<const RuleSet> rules_;  // protected by rules_mu_

  std::mutex mu_;  // serialises handlers
  // Protected by mu_:
  std::unique_ptr<Db> db_;
  std::unique_ptr<ReplyDesk> desk_;
  std::shared_ptr<const RuleSet> handler_rules_;  // the rules a handler in progress sees

  // Main loop thread only:
  std::chrono::steady_clock::time_point last_lifecycle_{}, last_events_{};
};

// The funnel (engine/dispatch/funnel.h) and the replies received, as gauges:
// ennakko_funnel{service,period,stage} and ennakko_replies{via,meaning}.
void UpdateReplyMetrics(Db& db, MetricsRegistry& metrics);

// `ennakko report funnel`: the funnel table from the config's store, read-only. 0 ok, 2 on a
// config or store problem.
int RunReportFunnel(const std::string& config_path, const std::string& service, const std::string& period,
                    std::ostream& out, std::ostream& err);

}  // namespace ennakko
