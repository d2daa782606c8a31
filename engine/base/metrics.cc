#include "engine/base/metrics.h"

#include <algorithm>

#include <fmt/format.h>

namespace ennakko {

std::string MetricsRegistry::RenderLabels(const Labels& labels) {
  if (labels.empty()) return "";
  Labels sorted = labels;
  std::sort(sorted.begin(), sorted.end());
  std::string out = "{";
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (i) out += ',';
    out += sorted[i].first;
    out += "=\"";
    for (char c : sorted[i].second) {
      if (c == '\\' || c == '"') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

void MetricsRegistry::Describe(std::string_view name, std::string_view type, std::string_view help) {
  std::lock_guard lock(mu_);
  auto& f = families_[std::string(name)];
  f.type = type;
  f.help = help;
}

void MetricsRegistry::Set(std::string_view name, const Labels& labels, double value) {
  std::lock_guard lock(mu_);
  families_[std::string(name)].samples[RenderLabels(labels)] = value;
}

void MetricsRegistry::Add(std::string_view name, const Labels& labels, double delta) {
  std::lock_guard lock(mu_);
  families_[std::string(name)].samples[RenderLabels(labels)] += delta;
}

void MetricsRegistry::Clear(std::string_view name) {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it != families_.end()) it->second.samples.clear();
}

double MetricsRegistry::Get(std::string_view name, const Labels& labels) const {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return 0;
  auto s = it->second.samples.find(RenderLabels(labels));
  return s == it->second.samples.end() ? 0 : s->second;
}

std::string MetricsRegistry::RenderText() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    if (!f.help.empty()) out += fmt::format("# HELP {} {}\n", name, f.help);
    out += fmt::format("# TYPE {} {}\n", name, f.type);
    for (const auto& [labels, v] : f.samples) out += fmt::format("{}{} {}\n", name, labels, v);
  }
  return out;
}

}  // namespace ennakko
