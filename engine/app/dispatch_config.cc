#include "engine/app/dispatch_config.h"

namespace ennakko {

void ReadDispatchControls(const YamlDocument& doc, DispatcherOptions& dispatch, MailboxStatusOptions& mailbox,
                          Diagnostics& diags) {
  const nlohmann::json& root = doc.json();
  if (!root.is_object() || !root.contains("dispatch") || !root["dispatch"].is_object()) return;
  const nlohmann::json& d = root["dispatch"];
  if (d.contains("batch_size")) dispatch.batch_size = d["batch_size"].get<int>();
  if (d.contains("rate_limits")) {
    for (const auto& [channel, limit] : d["rate_limits"].items()) {
      RateLimit r;
      r.per_second = limit["per_second"].get<double>();
      r.burst = limit.value("burst", std::max(1.0, r.per_second));
      dispatch.rate_limits[channel] = r;
    }
  }
  if (d.contains("quiet_hours")) {
    // Per channel; replaces that channel's default (SMS 21:00–08:00); start == end disables.
    for (const auto& [channel, window] : d["quiet_hours"].items()) {
      const std::string base = "/dispatch/quiet_hours/" + JsonPointerEscape(channel);
      QuietHours q;
      bool ok = true;
      for (const char* key : {"start", "end"}) {
        auto minute = QuietHours::ParseClock(window[key].get<std::string>());
        if (!minute.ok()) {
          diags.Error(doc.At(base + "/" + key), base + "/" + key + ": " + minute.status().message());
          ok = false;
          continue;
        }
        (std::string_view(key) == "start" ? q.start_minute : q.end_minute) = *minute;
      }
      if (ok) dispatch.quiet_hours[channel] = q;
    }
  }
  if (d.contains("circuit_breaker")) {
    const auto& b = d["circuit_breaker"];
    if (b.contains("failure_threshold")) dispatch.circuit_breaker.failure_threshold = b["failure_threshold"].get<int>();
    if (b.contains("cool_down_ms")) dispatch.circuit_breaker.cool_down = std::chrono::milliseconds(b["cool_down_ms"].get<int64_t>());
  }
  if (d.contains("mailbox_status")) {
    const auto& m = d["mailbox_status"];
    if (m.contains("max_age_hours")) mailbox.max_age = std::chrono::hours(m["max_age_hours"].get<int64_t>());
    if (m.contains("retry_ms")) dispatch.mailbox_retry = std::chrono::milliseconds(m["retry_ms"].get<int64_t>());
    if (m.contains("batch")) mailbox.batch = m["batch"].get<size_t>();
  }
}

}  // namespace ennakko
