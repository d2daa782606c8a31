#include "engine/app/connector_scheduler.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace ennakko {

namespace {

using std::chrono::milliseconds;

bool Digit(char c) { return c >= '0' && c <= '9'; }
bool CenturySign(char c) { return c != '\0' && std::strchr("+-ABCDEFYXWVU", c) != nullptr; }
bool CheckChar(char c) { return Digit(c) || (c >= 'A' && c <= 'Y' && !std::strchr("GIOQ", c)); }

double Seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

std::string Timestamp(const std::optional<std::chrono::system_clock::time_point>& t) {
  return t ? FormatTimestamp(*t) : "never";
}

bool Transient(const Status& s) {
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kResourceExhausted;
}

}  // namespace

std::string ScrubErrorText(std::string_view text, size_t max_bytes) {
  std::string out(text);
  for (size_t i = 0; i + 11 <= out.size(); ++i) {
    bool shaped = true;
    for (size_t k = 0; k < 6 && shaped; ++k) shaped = Digit(out[i + k]);
    shaped = shaped && CenturySign(out[i + 6]) && Digit(out[i + 7]) && Digit(out[i + 8]) &&
             Digit(out[i + 9]) && CheckChar(out[i + 10]);
    if (shaped) {
      out.replace(i, 11, "<hetu>");
      i += 5;
    }
  }
  if (out.size() > max_bytes) {
    out.resize(max_bytes);
    out += "...";
  }
  return out;
}

ConnectorScheduler::ConnectorScheduler(const Clock& clock, MetricsRegistry* metrics,
                                       BackoffOptions backoff)
    : clock_(clock), metrics_(metrics), backoff_(backoff),
      rng_(backoff.seed ? backoff.seed : std::random_device{}()) {
  if (!metrics_) return;
  metrics_->Describe("ennakko_connector_up", "gauge", "1 when the connector's last poll succeeded.");
  metrics_->Describe("ennakko_connector_last_success_timestamp_seconds", "gauge",
                     "When each connector last polled successfully.");
  metrics_->Describe("ennakko_connector_consecutive_failures", "gauge",
                     "Failed polls since the connector's last success.");
  metrics_->Describe("ennakko_connector_next_poll_timestamp_seconds", "gauge",
                     "When the connector is polled next (backoff included).");
  metrics_->Describe("ennakko_connector_polls_total", "counter", "Polls by connector and outcome (ok, error).");
  metrics_->Describe("ennakko_connector_records_total", "counter", "Records applied by connector.");
  metrics_->Describe("ennakko_connector_quarantined_total", "counter",
                     "Records quarantined by connector since start.");
}

Status ConnectorScheduler::Add(std::unique_ptr<RegistryConnector> connector) {
  std::string name(connector->name());
  for (const Entry& e : entries_) {
    if (e.health.name == name) return Status::Invalid(fmt::format("two connectors named {}", name));
  }
  Entry e;
  e.health.name = name;
  e.health.next_poll = clock_.Now();
  e.connector = std::move(connector);
  entries_.push_back(std::move(e));
  Publish(entries_.back());
  return Status::Ok();
}

milliseconds ConnectorScheduler::BackoffDelay(int64_t failures) {
  const int64_t initial = std::max<int64_t>(1, backoff_.initial.count());
  const int64_t cap = std::max<int64_t>(initial, backoff_.cap.count());
  int64_t ceiling = initial;
  for (int64_t i = 1; i < failures && ceiling < cap; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap);
  std::uniform_int_distribution<int64_t> jitter(0, ceiling);
  return milliseconds(jitter(rng_));
}

SchedulerTick ConnectorScheduler::PollDue(Db& db) {
  SchedulerTick tick;
  for (Entry& e : entries_) {
    const auto now = clock_.Now();
    if (e.health.next_poll > now) continue;
    ConnectorHealth& h = e.health;
    const std::string& name = h.name;
    ++tick.polled;
    ++h.polls;
    auto report = e.connector->Poll(db);
    const auto after = clock_.Now();
    if (report.ok()) {
      ++tick.succeeded;
      if (!h.succeeded_once) tick.first_successes.push_back(name);
      h.succeeded_once = true;
      h.up = true;
      h.consecutive_failures = 0;
      h.last_success = after;
      h.last_error.clear();
      h.records += report->records_applied;
      h.quarantined += report->records_quarantined;
      h.next_poll = report->caught_up ? after + e.connector->poll_every() : after;
      tick.batches_applied += report->batches_applied;
      tick.records_applied += report->records_applied;
      tick.records_quarantined += report->records_quarantined;
      tick.changed_residents.insert(tick.changed_residents.end(), report->changed_residents.begin(),
                                    report->changed_residents.end());
      if (report->batches_applied > 0 || report->records_applied > 0 || report->records_quarantined > 0) {
        tick.applied.push_back({name, report->batches_applied, report->records_applied, report->records_quarantined,
                                static_cast<int64_t>(report->changed_residents.size()), report->cursor});
      }
      if (metrics_) {
        metrics_->Add("ennakko_connector_polls_total", {{"connector", name}, {"outcome", "ok"}});
        metrics_->Add("ennakko_connector_records_total", {{"connector", name}},
                      static_cast<double>(report->records_applied));
        metrics_->Add("ennakko_connector_quarantined_total", {{"connector", name}},
                      static_cast<double>(report->records_quarantined));
      }
    } else {
      const Status& st = report.status();
      h.up = false;
      ++h.consecutive_failures;
      h.last_error = ScrubErrorText(st.ToString());
      milliseconds wait = e.connector->poll_every();
      if (Transient(st)) {
        wait = BackoffDelay(h.consecutive_failures);
        if (auto floor = e.connector->retry_after(); floor && *floor > wait) wait = *floor;
      }
      h.next_poll = after + wait;
      spdlog::warn("{}: poll failed ({} in a row), next try in {:.1f} s: {}", name, h.consecutive_failures,
                   std::chrono::duration<double>(wait).count(), h.last_error);
      if (metrics_) metrics_->Add("ennakko_connector_polls_total", {{"connector", name}, {"outcome", "error"}});
    }
    Publish(e);
  }
  std::sort(tick.changed_residents.begin(), tick.changed_residents.end());
  tick.changed_residents.erase(std::unique(tick.changed_residents.begin(), tick.changed_residents.end()),
                               tick.changed_residents.end());
  return tick;
}

void ConnectorScheduler::Publish(const Entry& e) {
  const ConnectorHealth& h = e.health;
  if (metrics_) {
    Labels l{{"connector", h.name}};
    metrics_->Set("ennakko_connector_up", l, h.up ? 1 : 0);
    if (h.last_success) metrics_->Set("ennakko_connector_last_success_timestamp_seconds", l, Seconds(*h.last_success));
    metrics_->Set("ennakko_connector_consecutive_failures", l, static_cast<double>(h.consecutive_failures));
    metrics_->Set("ennakko_connector_next_poll_timestamp_seconds", l, Seconds(h.next_poll));
  }
  std::lock_guard lock(mu_);
  auto it = std::find_if(published_.begin(), published_.end(),
                         [&](const ConnectorHealth& p) { return p.name == h.name; });
  if (it == published_.end()) {
    published_.push_back(h);
  } else {
    *it = h;
  }
}

milliseconds ConnectorScheduler::UntilNextPoll() const {
  if (entries_.empty()) return milliseconds(std::chrono::hours(1));
  auto next = entries_.front().health.next_poll;
  for (const Entry& e : entries_) next = std::min(next, e.health.next_poll);
  auto wait = std::chrono::duration_cast<milliseconds>(next - clock_.Now());
  return std::max(wait, milliseconds(0));
}

bool ConnectorScheduler::AllReady() const {
  std::lock_guard lock(mu_);
  return std::all_of(published_.begin(), published_.end(),
                     [](const ConnectorHealth& h) { return h.succeeded_once; });
}

std::vector<ConnectorHealth> ConnectorScheduler::Health() const {
  std::lock_guard lock(mu_);
  return published_;
}

std::string ConnectorScheduler::ReadinessText() const {
  std::string out;
  for (const ConnectorHealth& h : Health()) {
    const char* state = h.up ? "up" : (h.polls == 0 ? "pending" : "down");
    out += fmt::format("{} {} failures={} last_success={} next_poll={}", h.name, state, h.consecutive_failures,
                       Timestamp(h.last_success), FormatTimestamp(h.next_poll));
    if (!h.last_error.empty()) out += " last_error=" + h.last_error;
    out += "\n";
  }
  return out;
}

}  // namespace ennakko
