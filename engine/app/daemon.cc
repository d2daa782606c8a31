#include "engine/app/daemon.h"

#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "connectors/channels/email_channel.h"
#include "connectors/channels/file_channel.h"
#include "connectors/channels/kannel_sms_channel.h"
#include "connectors/channels/suomifi_channel.h"
#include "connectors/channels/suomifi_paper_channel.h"
#include "connectors/registries/filedrop_connector.h"
#include "connectors/registries/incomes_connector.h"
#include "connectors/registries/vtj_connector.h"
#include "engine/api/http_server.h"
#include "engine/app/config.h"
#include "engine/app/connector_scheduler.h"
#include "engine/app/consent_api.h"
#include "engine/app/incremental_pass.h"
#include "engine/app/evaluation_pass.h"
#include "engine/app/replies_service.h"
#include "engine/app/service_pause_api.h"
#include "engine/audit/audit_log.h"
#include "engine/audit/pseudonym.h"
#include "engine/base/metrics.h"
#include "engine/demo/democity.h"
#include "engine/dispatch/dispatcher.h"
#include "engine/store/migrations.h"
#include "engine/store/wal_checkpointer.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace ennakko {

namespace {

// Wakes the main loop early: on a signal, a reload request or shutdown.
struct Wakeup {
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<bool> stop{false};
  std::atomic<bool> reload{false};
  // Set from other threads (the consent API) when residents' facts changed: run a pass soon.
  std::atomic<bool> evaluate{false};
  // Who asked for the reload, for the audit trail: "sighup" or "http" (last one wins).
  std::atomic<const char*> reload_trigger{"sighup"};
  void Notify() {
    std::lock_guard lock(mu);
    cv.notify_all();
  }
  void SleepFor(std::chrono::milliseconds d) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, d, [&] { return stop.load() || reload.load() || evaluate.load(); });
  }
};

class Daemon {
 public:
  explicit Daemon(Config config) : config_(std::move(config)) {}
  int Run();

 private:
  Status Start();
  void Loop();
  void ReloadRules(const char* trigger);
  void UpdateMetrics();
  void Audit(std::string_view type, const nlohmann::json& fields) {
    Status st = audit_->Append(type, fields);
    if (!st.ok()) spdlog::error("audit append failed: {}", st.ToString());
  }
  void SaveAuditHead();

  Config config_;
  SystemClock clock_;
  Wakeup wake_;
  MetricsRegistry metrics_;
  std::unique_ptr<Db> db_;
  std::unique_ptr<WalCheckpointer> checkpointer_;  // WAL checkpoints off the writer's commits
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<Pseudonymizer> pseudonyms_;
  std::shared_ptr<const RuleSet> rules_;
  std::unique_ptr<ConnectorScheduler> connectors_;
  std::unique_ptr<IncrementalEvaluation> evaluation_;
  std::vector<std::unique_ptr<Channel>> channels_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<ConsentApi> consent_api_;  // before http_: its handlers go away after the server
  std::unique_ptr<MailboxStatusCache> mailbox_status_;
  std::unique_ptr<ServicePauseApi> pause_api_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<RepliesService> replies_;  // when config.replies is set
  std::atomic<bool> ready_{false};
  std::thread signal_thread_;
};

Status Daemon::Start() {
  // The writer's commits never copy the WAL into the database file; a thread of its own does
  // (engine/store/wal_checkpointer.h).
  const bool on_disk = config_.store_path != ":memory:";
  auto db = OpenStore({.path = config_.store_path, .synchronous_full = config_.store_synchronous_full,
                       .auto_checkpoint = !on_disk});
  if (!db.ok()) return db.status();
  db_ = std::move(*db);
  if (on_disk) {
    auto checkpointer = WalCheckpointer::Start(config_.store_path, config_.store_synchronous_full, std::chrono::seconds(1));
    if (!checkpointer.ok()) return checkpointer.status();
    checkpointer_ = std::move(*checkpointer);
  }
  auto audit = AuditLog::Open({.path = config_.audit_path}, clock_);
  if (!audit.ok()) return audit.status();
  audit_ = std::move(*audit);
  pseudonyms_ = std::make_unique<Pseudonymizer>(config_.pseudonym_key);

  // The audit head kept in the store detects a log truncated or replaced behind our back.
  if (auto st = db_->Prepare("SELECT seq, hash FROM audit_head WHERE id = 1"); st.ok() && st->Step().value()) {
    uint64_t seq = static_cast<uint64_t>(st->Int(0));
    if (audit_->seq() < seq) {
      spdlog::error("the audit log has {} events but the store recorded {}: it was truncated or replaced; "
                    "run `ennakko audit verify`", audit_->seq(), seq);
      Audit("audit.head_mismatch", {{"log_seq", audit_->seq()}, {"store_seq", seq}});
    }
  }
  Audit("daemon.started", {{"version", ENNAKKO_VERSION}, {"config", fs::path(config_.file).filename().string()}});

  Diagnostics diags;
  auto sources = LoadRuleSources(config_.rules_directory, diags);
  if (!sources.ok()) {
    for (const auto& d : diags.items()) spdlog::error("{}", d.ToString());
    return Status::Invalid("the rules in " + config_.rules_directory + " have errors; nothing to run");
  }
  auto compiled = RuleSet::Compile(*sources);
  if (!compiled.ok()) return compiled.status();
  rules_ = *compiled;
  Audit("rules.loaded", {{"revision", rules_->revision()}, {"rules", rules_->rules().size()}, {"trigger", "start"}});
  spdlog::info("rules: {} service rule(s) loaded, revision {}", rules_->rules().size(), rules_->revision());

  if (config_.demo) {
    bool empty = true;
    std::error_code ec;
    fs::create_directories(config_.population_directory, ec);
    for (const auto& e : fs::directory_iterator(config_.population_directory, ec)) {
      if (e.path().extension() == ".jsonl") empty = false;
    }
    if (empty) {
      auto t0 = std::chrono::steady_clock::now();
      auto stats = GenerateDemoCity({.seed = config_.demo_seed, .residents = config_.demo_residents,
                                     .today = clock_.Today(), .out_dir = config_.population_directory});
      if (!stats.ok()) return stats.status();
      spdlog::info("demo city generated: {} synthetic residents, {} children in this year's pre-primary cohort ({:.2f} s)",
                   stats->residents, stats->preprimary_cohort_in_city,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  // Registry connectors: one line each. The scheduler polls, backs off and reports health.
  connectors_ = std::make_unique<ConnectorScheduler>(clock_, &metrics_);
  ENNAKKO_RETURN_IF_ERROR(connectors_->Add(std::make_unique<FileDropConnector>(
      FileDropOptions{.directory = config_.population_directory},
      std::chrono::seconds(config_.population_poll_every_seconds))));
  if (config_.vtj) {
    const auto& v = *config_.vtj;
    ENNAKKO_RETURN_IF_ERROR(connectors_->Add(std::make_unique<VtjConnector>(VtjConnectorOptions{
        .base_url = v.base_url, .username = v.username, .password = v.password,
        .start_date = *Date::Parse(v.start_date), .ca_file = v.ca_file,
        .poll_every = std::chrono::seconds(v.poll_every_seconds), .timeout = std::chrono::milliseconds(v.timeout_ms),
        .initial_load_file = v.initial_load_file})));
  }
  if (config_.incomes) {
    const auto& in = *config_.incomes;
    ENNAKKO_RETURN_IF_ERROR(connectors_->Add(std::make_unique<IncomesConnector>(
        IncomesConnectorOptions{.base_url = in.base_url, .username = in.username, .password = in.password,
                                .purpose = in.purpose, .poll_every = std::chrono::seconds(in.poll_every_seconds),
                                .window = std::chrono::hours(24 * in.window_days),
                                .timeout = std::chrono::milliseconds(in.timeout_ms)},
        clock_)));
  }
  evaluation_ = std::make_unique<IncrementalEvaluation>(*db_, clock_, *audit_, *pseudonyms_);

  std::map<std::string, Channel*> channels;
  if (config_.file_channel_directory) {
    channels_.push_back(std::make_unique<FileChannel>(FileChannelOptions{.directory = *config_.file_channel_directory, .batch_sync = true}));
    channels["file"] = channels_.back().get();
  }
  if (config_.sms) {
    KannelSmsOptions o;
    o.sendsms_url = config_.sms->sendsms_url;
    o.username = config_.sms->username;
    o.password = config_.sms->password;
    o.from = config_.sms->from;
    o.max_messages = config_.sms->max_messages;
    o.timeout = std::chrono::milliseconds(config_.sms->timeout_ms);
    if (config_.replies && !config_.replies->dlr_url.empty()) {  // delivery reports (replies_service.h)
      o.dlr_url = config_.replies->dlr_url;
      o.dlr_key = config_.replies->signing_key;
      o.receipt_wait = std::chrono::seconds(config_.replies->receipt_wait_seconds);
    }
    ENNAKKO_RETURN_IF_ERROR(KannelSmsChannel::ValidateOptions(o));
    channels_.push_back(std::make_unique<KannelSmsChannel>(o));
    channels["sms"] = channels_.back().get();
  }
  if (config_.email) {
    EmailOptions o;
    o.smtp_url = config_.email->smtp_url;
    o.require_starttls = config_.email->require_starttls;
    o.username = config_.email->username;
    o.password = config_.email->password;
    o.from = config_.email->from;
    o.timeout = std::chrono::milliseconds(config_.email->timeout_ms);
    o.ca_file = config_.email->ca_file;
    ENNAKKO_RETURN_IF_ERROR(EmailChannel::ValidateOptions(o));
    channels_.push_back(std::make_unique<EmailChannel>(o));
    channels["email"] = channels_.back().get();
  }
  if (config_.suomifi) {
    SuomiFiOptions o;
    o.base_url = config_.suomifi->base_url;
    o.username = config_.suomifi->username;
    o.password = config_.suomifi->password;
    o.service_id = config_.suomifi->service_id;
    o.timeout = std::chrono::milliseconds(config_.suomifi->timeout_ms);
    ENNAKKO_RETURN_IF_ERROR(SuomiFiChannel::ValidateOptions(o));
    auto suomifi = std::make_unique<SuomiFiChannel>(o);
    mailbox_status_ = std::make_unique<MailboxStatusCache>(
        *db_, clock_, [ch = suomifi.get()](const std::vector<std::string>& ids) { return ch->ActiveMailboxes(ids); },
        config_.mailbox_status);
    channels_.push_back(std::move(suomifi));
    channels["suomifi"] = channels_.back().get();
    if (const auto& paper = config_.suomifi->paper) {  // the "paper" channel shares the token
      SuomiFiPaperOptions p;
      p.sender = {paper->sender_name, paper->sender_street_address, paper->sender_zip_code,
                  paper->sender_city, paper->sender_country_code};
      p.posti_username = paper->posti_username;
      p.posti_password = paper->posti_password;
      p.contact_email = paper->contact_email;
      p.cost_pool = paper->cost_pool;
      p.color_printing = paper->color_printing;
      p.two_sided_printing = paper->two_sided_printing;
      p.create_address_page = paper->create_address_page;
      p.reply_instructions = paper->reply_instructions;
      ENNAKKO_RETURN_IF_ERROR(SuomiFiPaperChannel::ValidateOptions(p));
      auto* api = static_cast<SuomiFiChannel*>(channels_.back().get());
      channels_.push_back(std::make_unique<SuomiFiPaperChannel>(*api, p));
      channels["paper"] = channels_.back().get();
    }
  }
  dispatcher_ = std::make_unique<Dispatcher>(
      config_.dispatch, *db_, clock_, channels,
      [this](std::string_view type, const nlohmann::json& f) { Audit(type, f); },
      [this](std::string_view code) { return pseudonyms_->Of(code); });
  dispatcher_->SetRules(rules_);
  dispatcher_->SetAuditFlush([this] { return audit_->Flush(); });
  if (config_.replies) {
    replies_ = std::make_unique<RepliesService>(
        config_, clock_, [this](std::string_view type, const nlohmann::json& f) { Audit(type, f); },
        [this](std::string_view code) { return pseudonyms_->Of(code); }, [this] { (void)audit_->Flush(); });
    ENNAKKO_RETURN_IF_ERROR(replies_->Open());
    replies_->SetRules(rules_);
    dispatcher_->SetMessageValues(replies_->MessageValues());
  }
  dispatcher_->SetMailboxStatus(mailbox_status_.get());
  dispatcher_->SetMetrics(&metrics_);
  auto recovered = dispatcher_->Recover();
  if (!recovered.ok()) return recovered.status();

  HttpServerOptions ho;
  ho.address = config_.http_address;
  ho.port = static_cast<uint16_t>(config_.http_port);
  ho.bearer_token = config_.http_token;
  http_ = std::make_unique<HttpServer>(ho);
  http_->AddRoute("GET", "/healthz", [](const HttpRequest&) { return HttpResponse{200, "text/plain; charset=utf-8", "ok\n"}; }, false);
  http_->AddRoute("GET", "/readyz", [this](const HttpRequest&) {
    // Ready once every connector has succeeded at least once and the facts were evaluated.
    std::string connectors = connectors_->ReadinessText();
    if (ready_ && connectors_->AllReady()) return HttpResponse{200, "text/plain; charset=utf-8", "ready\n" + connectors};
    return HttpResponse{503, "text/plain; charset=utf-8",
                        std::string(ready_ ? "not ready: a connector has not succeeded yet\n"
                                           : "starting: first load not finished\n") + connectors};
  }, false);
  http_->AddRoute("GET", "/metrics", [this](const HttpRequest&) {
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics_.RenderText()};
  }, false);
  http_->AddRoute("POST", "/api/v1/rules/reload", [this](const HttpRequest&) {
    wake_.reload_trigger = "http";
    wake_.reload = true;
    wake_.Notify();
    return HttpResponse{202, "text/plain; charset=utf-8", "reload requested; see the log and /metrics for the result\n"};
  }, true);
  ConsentApiOptions consent_options;
  consent_options.store_path = config_.store_path;
  consent_options.synchronous_full = config_.store_synchronous_full;
  auto consent_api = ConsentApi::Open(consent_options, clock_, *audit_, *pseudonyms_);
  if (!consent_api.ok()) return consent_api.status();
  consent_api_ = std::move(*consent_api);
  consent_api_->SetRules(rules_);
  // A granted or revoked consent changes the permission of the resident's decisions (and their
  // wards'): re-evaluate. Affected-subject re-evaluation can take the ids from here.
  consent_api_->OnResidentsChanged([this](std::vector<int64_t>) {
    wake_.evaluate = true;
    wake_.Notify();
  });
  consent_api_->Register(*http_);
  if (replies_) replies_->AddRoutes(*http_);
  pause_api_ = std::make_unique<ServicePauseApi>(
      config_.store_path, clock_, [this](std::string_view type, const nlohmann::json& f) { Audit(type, f); }, metrics_);
  ENNAKKO_RETURN_IF_ERROR(pause_api_->Open());
  pause_api_->SetServices(*rules_);
  pause_api_->Register(*http_);
  ENNAKKO_RETURN_IF_ERROR(http_->Start());
  spdlog::info("http: listening on {}:{} (/healthz, /readyz, /metrics)", config_.http_address, http_->port());

  metrics_.Describe("ennakko_residents", "gauge", "Residents in the store.");
  metrics_.Describe("ennakko_store_wal_backlog_frames", "gauge",
                    "WAL frames the last background checkpoint left uncopied into the database file.");
  metrics_.Describe("ennakko_store_wal_checkpoints", "gauge", "Background WAL checkpoints run since start.");
  metrics_.Describe("ennakko_decisions", "gauge", "Recorded decisions by service and verdict.");
  metrics_.Describe("ennakko_offers", "gauge", "Offers in the outbox by service and state.");
  metrics_.Describe("ennakko_quarantined_records", "gauge", "Records in quarantine by connector.");
  metrics_.Describe("ennakko_rules_info", "gauge", "The rule-set revision in use.");
  metrics_.Describe("ennakko_rules_reload_failures_total", "counter", "Rule reloads rejected because of errors.");
  return Status::Ok();
}

void Daemon::ReloadRules(const char* trigger) {
  Diagnostics diags;
  auto sources = LoadRuleSources(config_.rules_directory, diags);
  std::shared_ptr<const RuleSet> next;
  if (sources.ok()) {
    auto compiled = RuleSet::Compile(*sources);
    if (compiled.ok()) {
      next = *compiled;
    } else {
      // Checked sources that fail to compile are our bug, not the author's: say so in the log.
      diags.Error({config_.rules_directory, 0, 0}, "internal error compiling the rules: " + compiled.status().message());
    }
  }
  if (!next) {
    for (const auto& d : diags.items()) spdlog::error("{}", d.ToString());
    spdlog::error("rules: reload rejected ({} error(s)); still running revision {}", diags.error_count(), rules_->revision());
    metrics_.Add("ennakko_rules_reload_failures_total", {});
    Audit("rules.rejected", {{"errors", diags.error_count()}, {"kept_revision", rules_->revision()}, {"trigger", trigger}});
    return;
  }
  if (next->revision() == rules_->revision()) {
    spdlog::info("rules: reload found no change (revision {})", next->revision());
    return;
  }
  rules_ = next;
  dispatcher_->SetRules(rules_);
  consent_api_->SetRules(rules_);
  if (replies_) replies_->SetRules(rules_);
  pause_api_->SetServices(*rules_);
  Audit("rules.loaded", {{"revision", rules_->revision()}, {"rules", rules_->rules().size()}, {"trigger", trigger}});
  spdlog::info("rules: reloaded, revision {}", rules_->revision());
}

void Daemon::SaveAuditHead() {
  // One lock for the flush and both values: HTTP handlers (replies, consents, pauses) append
  // events from their own threads.
  auto head = audit_->FlushAndHead();
  if (!head.ok()) {
    spdlog::error("audit: could not flush the log: {}", head.status().ToString());
    return;
  }
  auto st = db_->Prepare("INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) "
                         "ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash");
  if (st.ok()) {
    st->Bind(1, static_cast<int64_t>(head->seq)).Bind(2, head->hash);
    (void)st->Run();
  }
}

void Daemon::UpdateMetrics() {
  auto count = [&](const char* sql, const char* family, std::vector<std::string> labels) {
    auto st = db_->Prepare(sql);
    if (!st.ok()) return;
    metrics_.Clear(family);
    for (;;) {
      auto row = st->Step();
      if (!row.ok() || !*row) break;
      Labels l;
      for (size_t i = 0; i < labels.size(); ++i) l.emplace_back(labels[i], st->Text(static_cast<int>(i)));
      metrics_.Set(family, l, static_cast<double>(st->Int(static_cast<int>(labels.size()))));
    }
  };
  count("SELECT count(*) FROM residents", "ennakko_residents", {});
  count("SELECT service, verdict, count(*) FROM decisions GROUP BY service, verdict", "ennakko_decisions", {"service", "verdict"});
  count("SELECT service, state, count(*) FROM outbox GROUP BY service, state", "ennakko_offers", {"service", "state"});
  count("SELECT connector, count(*) FROM quarantine GROUP BY connector", "ennakko_quarantined_records", {"connector"});
  UpdateReplyMetrics(*db_, metrics_);
  if (checkpointer_) {
    metrics_.Set("ennakko_store_wal_backlog_frames", {}, static_cast<double>(checkpointer_->backlog()));
    metrics_.Set("ennakko_store_wal_checkpoints", {}, static_cast<double>(checkpointer_->checkpoints()));
  }
  metrics_.Clear("ennakko_rules_info");
  metrics_.Set("ennakko_rules_info", {{"revision", rules_->revision()}}, 1);
}

void Daemon::Loop() {
  auto last_eval = std::chrono::steady_clock::time_point{};
  bool evaluate = true;
  int64_t sent_total = 0;
  auto started = std::chrono::steady_clock::now();
  bool reported_idle = false;
  bool polled_once = false;
  auto last_schedule_check = std::chrono::steady_clock::time_point{};
  while (!wake_.stop) {
    auto now = std::chrono::steady_clock::now();
    if (wake_.reload.exchange(false)) {
      std::string before = rules_->revision();
      ReloadRules(wake_.reload_trigger.load());
      // Make the reload's audit event (rules.loaded / rules.rejected) durable now: a rejected
      // reload triggers no pass, so it would otherwise wait for the next pass or send.
      SaveAuditHead();
      evaluate = evaluate || rules_->revision() != before;
    }
    if (wake_.evaluate.exchange(false)) evaluate = true;
    std::vector<int64_t> changed;
    {
      SchedulerTick tick = connectors_->PollDue(*db_);
      // A connector's first success runs a full pass (the data behind every decision is new).
      if (!tick.first_successes.empty()) evaluate = true;
      polled_once = polled_once || connectors_->AllReady();
      for (const auto& a : tick.applied) {
        if (a.records == 0 && a.quarantined == 0 && a.changed == 0) continue;  // nothing new
        spdlog::info("{}: {} batch(es), {} records, {} quarantined; {} residents changed; cursor {}", a.connector,
                     a.batches, a.records, a.quarantined, a.changed, a.cursor);
        Audit("connector.applied", {{"connector", a.connector}, {"batches", a.batches}, {"records", a.records},
                                    {"quarantined", a.quarantined}, {"residents_changed", a.changed},
                                    {"cursor", a.cursor}});
      }
      changed = std::move(tick.changed_residents);
    }
    // A scheduled rule whose moment has come triggers a pass (checked every 30 s).
    if (!evaluate && now - last_schedule_check >= std::chrono::seconds(30)) {
      last_schedule_check = now;
      RuleSchedules schedules(*db_, clock_);
      for (const auto& r : rules_->rules()) {
        auto due = schedules.Due(*r.spec);
        evaluate = evaluate || (due.ok() && *due);
      }
    }
    // A new day or a new rule revision needs everyone (age-based rules depend on today).
    if (polled_once && evaluation_->NeedsFullPass(*rules_)) evaluate = true;
    if (!evaluate && polled_once && !changed.empty()) {
      auto pass = evaluation_->Changed(*rules_, changed);
      if (pass.ok()) {
        spdlog::info("engine: {} changed residents, {} subject-rule pairs re-evaluated, {} decisions, {} changed; "
                     "{} offers queued, {} cancelled [refresh {:.3f} s, evaluate {:.3f} s, record {:.3f} s]",
                     changed.size(), evaluation_->last_evaluated().size(), pass->decisions, pass->decisions_changed,
                     pass->offers_queued, pass->offers_cancelled, pass->load_seconds, pass->evaluate_seconds,
                     pass->record_seconds);
        if (pass->offers_queued > 0) reported_idle = false;
        SaveAuditHead();
        UpdateMetrics();
      } else {
        spdlog::error("engine: incremental evaluation failed, a full pass follows: {}", pass.status().ToString());
        evaluate = true;
      }
    }
    if (evaluate || now - last_eval >= std::chrono::seconds(config_.evaluate_every_seconds)) {
      evaluate = false;
      last_eval = now;
      // Rules with a trigger.schedule queue their offers only when a scheduled moment has passed.
      RuleSchedules schedules(*db_, clock_);
      std::vector<std::string> due_services;
      for (const auto& r : rules_->rules()) {
        auto due = schedules.Due(*r.spec);
        if (due.ok() && *due) due_services.push_back(r.spec->service);
      }
      PassOptions options;
      options.due = [&](const RuleSpec& spec) {
        return std::find(due_services.begin(), due_services.end(), spec.service) != due_services.end();
      };
      auto pass = evaluation_->FullPass(*rules_, options);
      if (pass.ok() && !due_services.empty()) {
        Status marked = schedules.MarkRun(due_services);
        if (!marked.ok()) spdlog::error("rules: could not record the scheduled run: {}", marked.ToString());
        for (const auto& s : due_services) spdlog::info("rules: scheduled run of {} done", s);
      }
      if (pass.ok()) {
        std::string verdicts;
        for (const auto& [v, n] : pass->by_verdict) verdicts += (verdicts.empty() ? "" : ", ") + v + " " + std::to_string(n);
        spdlog::info("engine: {} residents loaded, {} decisions ({}), {} changed; {} offers queued, {} cancelled "
                     "[load {:.3f} s, evaluate {:.3f} s, record {:.3f} s]",
                     pass->residents, pass->decisions, verdicts.empty() ? "none" : verdicts, pass->decisions_changed,
                     pass->offers_queued, pass->offers_cancelled, pass->load_seconds, pass->evaluate_seconds,
                     pass->record_seconds);
        if (pass->offers_queued > 0) reported_idle = false;
      } else {
        spdlog::error("engine: evaluation pass failed: {}", pass.status().ToString());
      }
      SaveAuditHead();
      UpdateMetrics();
      // Ready once the facts were read at least once and evaluated: before that, nothing we say
      // about residents is backed by data.
      ready_ = polled_once;
    }
    // Reminders, expiry and Suomi.fi delivery events; reminders are drained just below.
    bool progressed = replies_ && replies_->Tick(*db_);
    // Drain everything that is due, batch by batch, unless asked to stop.
    while (!wake_.stop) {
      auto drained = dispatcher_->DrainOnce(wake_.stop);
      if (!drained.ok()) {
        spdlog::error("dispatch: {}", drained.status().ToString());
        break;
      }
      if (drained->claimed == 0 && drained->failed == 0 && drained->held == 0) break;
      progressed = true;
      sent_total += drained->sent;
      if (drained->retried || drained->failed) {
        spdlog::warn("dispatch: {} sent, {} to retry, {} failed", drained->sent, drained->retried, drained->failed);
      }
      // Only retries (or a whole batch that was sent to retry): back off, do not spin. Held offers
      // moved out of the way, so the next batch may hold sendable ones.
      if (drained->sent == 0 && drained->failed == 0 && drained->held == 0) break;
    }
    if (progressed) {
      SaveAuditHead();
      UpdateMetrics();
    }
    if (!progressed && !reported_idle) {
      auto counts = Outbox(*db_, clock_).CountByState();
      if (counts.ok()) {
        std::string states;
        for (const auto& [s, n] : *counts) states += (states.empty() ? "" : ", ") + s + " " + std::to_string(n);
        spdlog::info("dispatch: nothing due; {} sent by this process in {:.2f} s since start; outbox: {}", sent_total,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
                     states.empty() ? "empty" : states);
      }
      reported_idle = true;
    }
    if (!progressed) wake_.SleepFor(std::min<std::chrono::milliseconds>(1000ms, connectors_->UntilNextPoll()));
  }
}

int Daemon::Run() {
  // Block the stop and reload signals in every thread; one thread waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal_thread_ = std::thread([this, set] {
    for (;;) {
      int sig = 0;
      if (sigwait(&set, &sig) != 0) continue;
      if (sig == SIGHUP) {
        wake_.reload_trigger = "sighup";
        wake_.reload = true;
      } else {
        wake_.stop = true;
      }
      wake_.Notify();
      if (sig != SIGHUP) return;
    }
  });

  Status st = Start();
  if (!st.ok()) {
    spdlog::error("start-up failed: {}", st.ToString());
    if (http_) http_->Stop(1000ms);
    if (audit_) (void)audit_->Flush();
    pthread_kill(signal_thread_.native_handle(), SIGTERM);
    signal_thread_.join();
    return 2;
  }
  spdlog::info("serving; stop with Ctrl-C or SIGTERM, reload rules with SIGHUP");
  Loop();
  spdlog::info("stopping: the batch in flight has finished; unattempted offers stay queued");
  http_->Stop(3000ms);
  Audit("daemon.stopped", {{"reason", "signal"}});
  SaveAuditHead();
  signal_thread_.join();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace

int RunServe(const std::string& config_path) {
  Diagnostics diags;
  auto config = LoadConfig(config_path, diags);
  if (!config.ok()) {
    for (const auto& d : diags.items()) spdlog::error("{}", d.ToString());
    spdlog::error("{}", config.status().message());
    return 2;
  }
  spdlog::set_level(spdlog::level::from_str(config->log_level));
  return Daemon(std::move(*config)).Run();
}

}  // namespace ennakko
