// An in-process metrics registry rendered in the Prometheus text exposition format (0.0.4).
//
// Components set gauges and add to counters by name and labels; /metrics renders a snapshot.
// Thread-safe: every method takes the registry's mutex (updates are rare compared with the work
// they describe: per batch, per decision pass, per send). Label values must not carry personal data.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ennakko {

using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricsRegistry {
 public:
  // Declares a family's type ("counter" or "gauge") and help text. Optional but recommended.
  void Describe(std::string_view name, std::string_view type, std::string_view help);
  void Set(std::string_view name, const Labels& labels, double value);
  void Add(std::string_view name, const Labels& labels, double delta = 1);
  // Removes every sample of a family (for gauges recomputed from scratch, e.g. offers by state).
  void Clear(std::string_view name);
  double Get(std::string_view name, const Labels& labels) const;  // 0 when absent
  std::string RenderText() const;

 private:
  struct Family {
    std::string type = "gauge";
    std::string help;
    std::map<std::string, double> samples;  // rendered label set -> value
  };
  static std::string RenderLabels(const Labels& labels);
  mutable std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;  // protected by mu_
};

}  // namespace ennakko
