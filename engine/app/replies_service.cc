#include "engine/app/replies_service.h"

#include <spdlog/spdlog.h>

#include "connectors/channels/kannel_sms_channel.h"
#include "engine/base/crypto.h"
#include "engine/app/tool_context.h"
#include "engine/dispatch/funnel.h"
#include "engine/store/migrations.h"

namespace ennakko {

namespace {

constexpr const char* kEventsCursor = "suomifi-events";

// application/x-www-form-urlencoded: '+' is a space, %XX a byte. Malformed escapes stay as typed.
std::map<std::string, std::string> DecodeForm(std::string_view body) {
  auto decode = [](std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') {
        out += ' ';
      } else if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
                 std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
        out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else {
        out += s[i];
      }
    }
    return out;
  };
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t amp = body.find('&', pos);
    std::string_view pair = body.substr(pos, amp == std::string_view::npos ? std::string_view::npos : amp - pos);
    size_t eq = pair.find('=');
    std::string key = decode(pair.substr(0, eq));
    if (!key.empty()) out.emplace(key, eq == std::string_view::npos ? "" : decode(pair.substr(eq + 1)));
    if (amp == std::string_view::npos) break;
    pos = amp + 1;
  }
  return out;
}

std::string Param(const std::map<std::string, std::string>& m, const char* key) {
  auto it = m.find(key);
  return it == m.end() ? std::string() : it->second;
}

HttpResponse Html(const ReplyPage& page) {
  HttpResponse r{page.status, "text/html; charset=utf-8", page.html};
  // The token is in the URL: no caching, no referrer, no indexing, no scripts.
  r.headers = {{"Cache-Control", "no-store"},
               {"Referrer-Policy", "no-referrer"},
               {"X-Robots-Tag", "noindex"},
               {"Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"}};
  return r;
}

const char* ReminderPrefix(const std::string& language) {
  if (language == "sv") return "Påminnelse: ";
  if (language == "en") return "Reminder: ";
  return "Muistutus: ";
}

}  // namespace

RepliesService::RepliesService(const Config& config, const Clock& clock, AuditFn audit, PseudonymFn pseudonym,
                               std::function<void()> flush_audit)
    : config_(config),
      replies_(config.replies.value_or(RepliesConfig{})),
      clock_(clock),
      audit_(std::move(audit)),
      pseudonym_(std::move(pseudonym)),
      flush_audit_(std::move(flush_audit)),
      desk_options_{replies_.signing_key, replies_.link_base_url,
                    std::chrono::hours(24) * replies_.link_valid_days} {
  if (config.suomifi) {
    SuomiFiOptions o;
    o.base_url = config.suomifi->base_url;
    o.username = config.suomifi->username;
    o.password = config.suomifi->password;
    o.service_id = config.suomifi->service_id;
    o.timeout = std::chrono::milliseconds(config.suomifi->timeout_ms);
    events_ = std::make_unique<SuomiFiEventsClient>(o);
  }
}

RepliesService::~RepliesService() = default;

Status RepliesService::Open() {
  auto db = OpenStore({.path = config_.store_path, .synchronous_full = config_.store_synchronous_full});
  if (!db.ok()) return db.status();
  std::lock_guard lock(mu_);
  db_ = std::move(*db);
  desk_ = std::make_unique<ReplyDesk>(desk_options_, *db_, clock_, audit_, pseudonym_,
                                      [this](const std::string& service) { return RuleFor(handler_rules_, service); });
  return Status::Ok();
}

void RepliesService::SetRules(std::shared_ptr<const RuleSet> rules) {
  std::lock_guard lock(rules_mu_);
  rules_ = std::move(rules);
}

std::shared_ptr<const RuleSet> RepliesService::Rules() const {
  std::lock_guard lock(rules_mu_);
  return rules_;
}

const RuleSpec* RepliesService::RuleFor(const std::shared_ptr<const RuleSet>& rules, const std::string& service) const {
  if (!rules) return nullptr;
  for (const auto& r : rules->sources().rules) {
    if (r.service == service) return &r;
  }
  return nullptr;
}

Dispatcher::MessageValuesFn RepliesService::MessageValues() const {
  ReplyDeskOptions options = desk_options_;
  const Clock* clock = &clock_;
  return [options, clock](const ClaimedOffer& o, std::string_view channel, std::map<std::string, std::string>& v) {
    const int64_t offer = o.kind == "reminder" && o.reply_to != 0 ? o.reply_to : o.id;
    v["reply_code"] = ReplyCode(offer);  // a reminder is answered like its offer
    // A link in an SMS would only make it longer: SMS answers are words (sms_reply.h).
    v["reply_link"] = channel == "sms" ? "" : ReplyLinkFor(options, offer, clock->Now());
    v["reminder"] = o.kind == "reminder" ? ReminderPrefix(o.recipient_language) : "";
  };
}

void RepliesService::AddRoutes(HttpServer& http) {
  // Kannel's callbacks get a connection each (HttpResponse::close_connection): its smsbox aborts
  // when it reuses a kept-alive connection that a restart of the daemon has reset.
  auto for_kannel = [](HttpResponse response) {
    response.close_connection = true;
    return response;
  };
  http.AddRoute("GET", "/api/v1/sms/inbound", [this, for_kannel](const HttpRequest& r) { return for_kannel(Inbound(r)); }, false);
  http.AddRoute("GET", "/api/v1/sms/dlr", [this, for_kannel](const HttpRequest& r) { return for_kannel(Dlr(r)); }, false);
  http.AddRoute("GET", "/reply", [this](const HttpRequest& r) { return ReplyPageGet(r); }, false);
  http.AddRoute("POST", "/reply", [this](const HttpRequest& r) { return ReplyPagePost(r); }, false);
}

HttpResponse RepliesService::Inbound(const HttpRequest& r) {
  if (replies_.sms_secret.empty() || !ConstantTimeEquals(Param(r.query, "secret"), replies_.sms_secret)) {
    return HttpResponse{403, "text/plain; charset=utf-8", ""};
  }
  std::lock_guard lock(mu_);
  handler_rules_ = Rules();
  std::string answer = desk_->HandleSms(Param(r.query, "from"), Param(r.query, "text"));
  if (flush_audit_) flush_audit_();
  return HttpResponse{200, "text/plain; charset=utf-8", answer};
}

HttpResponse RepliesService::Dlr(const HttpRequest& r) {
  const std::string id_text = Param(r.query, "id");
  int64_t id = 0;
  try {
    size_t used = 0;
    id = std::stoll(id_text, &used);
    if (used != id_text.size()) id = 0;
  } catch (...) {
    id = 0;
  }
  if (id <= 0 || !ConstantTimeEquals(Param(r.query, "sig"), KannelDlrSignature(replies_.signing_key, id))) {
    return HttpResponse{403, "text/plain; charset=utf-8", "bad signature\n"};
  }
  int status = 0;
  try {
    status = std::stoi(Param(r.query, "status"));
  } catch (...) {
    return HttpResponse{400, "text/plain; charset=utf-8", "bad status\n"};
  }
  std::lock_guard lock(mu_);
  Status st = desk_->HandleDeliveryReport(id, status);
  if (flush_audit_) flush_audit_();
  // 200, not 204: Kannel's smsbox counts anything else as a failed call and, with
  // http-request-retry set, makes it again and again.
  if (st.ok()) return HttpResponse{200, "text/plain; charset=utf-8", ""};
  spdlog::warn("replies: delivery report {} for outbox {}: {}", status, id, st.ToString());
  switch (st.code()) {
    // A correctly signed report that cannot change anything gets 200 all the same: Kannel would
    // repeat any other answer for its whole retry window.
    case StatusCode::kNotFound:
    case StatusCode::kFailedPrecondition: return HttpResponse{200, "text/plain; charset=utf-8", ""};
    case StatusCode::kInvalidArgument: return HttpResponse{400, "text/plain; charset=utf-8", "bad status\n"};
    default: return HttpResponse{503, "text/plain; charset=utf-8", "try again\n"};
  }
}

HttpResponse RepliesService::ReplyPageGet(const HttpRequest& r) {
  std::lock_guard lock(mu_);
  handler_rules_ = Rules();
  return Html(desk_->HandleLinkGet(Param(r.query, "t")));
}

HttpResponse RepliesService::ReplyPagePost(const HttpRequest& r) {
  auto form = DecodeForm(r.body);
  std::string token = Param(form, "t");
  if (token.empty()) token = Param(r.query, "t");
  std::lock_guard lock(mu_);
  handler_rules_ = Rules();
  ReplyPage page = desk_->HandleLinkPost(token, Param(form, "answer"));
  if (flush_audit_) flush_audit_();
  return Html(page);
}

int RepliesService::PollSuomiFiEvents(Db& db) {
  std::string cursor;
  if (auto st = db.Prepare("SELECT cursor FROM connector_cursors WHERE connector = ?"); st.ok()) {
    st->Bind(1, kEventsCursor);
    if (auto row = st->Step(); row.ok() && *row) cursor = st->Text(0);
  }
  OfferLifecycle lifecycle(db, clock_, audit_, pseudonym_);
  int applied = 0;
  for (int page = 0; page < 20; ++page) {  // at most 20,000 events a tick; the rest next time
    auto fetched = events_->Fetch(cursor);
    if (!fetched.ok()) {
      spdlog::warn("suomifi events: {}", fetched.status().ToString());
      break;
    }
    for (const SuomiFiEvent& e : fetched->events) {
      SuomiFiDelivery meaning = DeliveryMeaning(e);
      if (meaning.kind == SuomiFiDelivery::Kind::kNone) continue;
      auto find = db.Prepare(
          "SELECT id FROM outbox WHERE (?1 <> '' AND idem_key = ?1) OR (?2 <> '' AND channel = 'suomifi' AND gateway_ref = ?2) "
          "LIMIT 1");
      if (!find.ok()) continue;
      find->Bind(1, e.external_id).Bind(2, e.message_id);
      auto row = find->Step();
      if (!row.ok() || !*row) continue;  // not ours (another system on the same account)
      int64_t id = find->Int(0);
      auto report = meaning.kind == SuomiFiDelivery::Kind::kDelivered
                        ? ennakko::DeliveryReport::Delivered(meaning.how, "suomifi-events")
                        : ennakko::DeliveryReport::NotDelivered(meaning.reason, "suomifi-events");
      auto after = lifecycle.RecordDelivery(id, report);
      if (after.ok()) {
        ++applied;
      } else {
        spdlog::debug("suomifi events: outbox {}: {}", id, after.status().ToString());
      }
    }
    const bool moved = fetched->continuation_token != cursor;
    if (moved) {
      cursor = fetched->continuation_token;
      auto save = db.Prepare(
          "INSERT INTO connector_cursors (connector, cursor, updated_at) VALUES (?1, ?2, ?3) "
          "ON CONFLICT(connector) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at");
      if (save.ok()) {
        save->Bind(1, kEventsCursor).Bind(2, cursor).Bind(3, FormatTimestamp(clock_.Now()));
        if (Status s = save->Run(); !s.ok()) spdlog::error("suomifi events: saving the cursor: {}", s.ToString());
      }
    }
    if (fetched->events.empty() || !moved) break;
  }
  return applied;
}

bool RepliesService::Tick(Db& db) {
  const auto now = std::chrono::steady_clock::now();
  bool changed = false;
  if (now - last_lifecycle_ >= std::chrono::seconds(replies_.lifecycle_every_seconds)) {
    last_lifecycle_ = now;
    auto rules = Rules();
    OfferLifecycle lifecycle(db, clock_, audit_, pseudonym_);
    const std::chrono::seconds day = replies_.test_day_seconds > 0 ? std::chrono::seconds(replies_.test_day_seconds)
                                                                   : std::chrono::seconds(std::chrono::hours(24));
    auto stats = lifecycle.RemindAndExpire([&](const std::string& s) { return RuleFor(rules, s); }, day);
    if (!stats.ok()) {
      spdlog::error("replies: reminders and expiry: {}", stats.status().ToString());
    } else if (stats->reminded || stats->expired) {
      spdlog::info("replies: {} reminder(s) queued, {} offer(s) expired unanswered", stats->reminded, stats->expired);
      changed = true;
    }
  }
  if (events_ && now - last_events_ >= std::chrono::seconds(replies_.suomifi_events_every_seconds)) {
    last_events_ = now;
    int applied = PollSuomiFiEvents(db);
    if (applied > 0) {
      spdlog::info("suomifi events: {} delivery update(s)", applied);
      changed = true;
    }
  }
  return changed;
}

void UpdateReplyMetrics(Db& db, MetricsRegistry& metrics) {
  metrics.Describe("ennakko_funnel", "gauge",
                   "Children per service and period at each stage: eligible, offered, delivered, responded, accepted.");
  metrics.Describe("ennakko_replies", "gauge", "Answers received, by channel and meaning.");
  auto funnel = ComputeFunnel(db);
  if (funnel.ok()) {
    metrics.Clear("ennakko_funnel");
    for (const auto& f : *funnel) {
      for (const auto& [stage, n] : {std::pair<const char*, int64_t>{"eligible", f.eligible}, {"offered", f.offered},
                                     {"delivered", f.delivered}, {"responded", f.responded}, {"accepted", f.accepted}}) {
        metrics.Set("ennakko_funnel", {{"service", f.service}, {"period", f.period}, {"stage", stage}},
                    static_cast<double>(n));
      }
    }
  }
  auto st = db.Prepare("SELECT via, meaning, count(*) FROM replies GROUP BY via, meaning");
  if (!st.ok()) return;
  metrics.Clear("ennakko_replies");
  for (;;) {
    auto row = st->Step();
    if (!row.ok() || !*row) break;
    metrics.Set("ennakko_replies", {{"via", st->Text(0)}, {"meaning", st->Text(1)}}, static_cast<double>(st->Int(2)));
  }
}

int RunReportFunnel(const std::string& config_path, const std::string& service, const std::string& period,
                    std::ostream& out, std::ostream& err) {
  Diagnostics diags;
  auto config = LoadConfig(config_path, diags);
  if (!config.ok()) {
    err << diags.ToString() << config.status().message() << "\n";
    return 2;
  }
  auto db = OpenStoreReadOnly(config->store_path);
  if (!db.ok()) {
    err << db.status().message() << "\n";
    return 2;
  }
  auto rows = ComputeFunnel(**db, service, period);
  if (!rows.ok()) {
    err << rows.status().message() << "\n";
    return 2;
  }
  out << FormatFunnelTable(*rows);
  return 0;
}

}  // namespace ennakko
