#include <algorithm>
#include "engine/app/simulate.h"

#include <fmt/format.h>

#include <chrono>
#include <ostream>
#include <set>

#include "engine/app/evaluation_pass.h"
#include "engine/app/tool_context.h"
#include "engine/eval/evaluator.h"
#include "engine/eval/sweep.h"

namespace ennakko {

namespace {

constexpr const char* kNotApplicable = "not_applicable";
constexpr const char* kNoRule = "no_rule";
constexpr uint8_t kOutside = 0xFF;  // outside applies_to: no decision

// Every rule's verdict for every resident (rule-major: [rule * n + person]) from the parallel
// compact sweep. EvaluateCompact gives the verdict the daemon records, including an offer with no
// living recipient as undetermined.
std::vector<uint8_t> SweepVerdicts(const RuleSet& rules, const Population& pop, Date at, int threads,
                                   const ProgressFn& progress, size_t offset, size_t total) {
  const size_t n = pop.size();
  std::vector<uint8_t> verdicts(n * rules.rules().size(), kOutside);
  SweepOptions options;
  options.threads = threads;
  // Each (rule, person) is decided by exactly one worker, so the writes never overlap.
  options.on_decision = [&verdicts, n](size_t rule, PersonIndex p, const CompactDecision& d) {
    verdicts[rule * n + p] = static_cast<uint8_t>(d.verdict);
  };
  if (progress) options.on_progress = [&](size_t done, size_t) { progress(offset + done, total); };
  Sweep(rules, pop, at, options);
  return verdicts;
}

// One rule set's verdicts with its services' rule indexes.
struct Side {
  std::vector<uint8_t> verdicts;
  std::map<std::string, size_t> rule_of;
  size_t n = 0;
  const char* VerdictOf(const std::string& service, PersonIndex p) const {
    auto it = rule_of.find(service);
    if (it == rule_of.end()) return kNoRule;
    uint8_t v = verdicts[it->second * n + p];
    return v == kOutside ? kNotApplicable : VerdictName(static_cast<Verdict>(v));
  }
};

Side MakeSide(const RuleSet& rules, const Population& pop, Date at, int threads, const ProgressFn& progress,
              size_t offset, size_t total) {
  Side side;
  side.n = pop.size();
  for (size_t i = 0; i < rules.rules().size(); ++i) side.rule_of[rules.rules()[i].spec->service] = i;
  side.verdicts = SweepVerdicts(rules, pop, at, threads, progress, offset, total);
  return side;
}

bool Counted(const char* verdict) { return verdict != kNotApplicable && verdict != kNoRule; }

}  // namespace

SimulationReport SimulatePopulation(const Population& population, const RuleSet& rules, const RuleSet* against, Date at,
                                    size_t examples, int threads, const ProgressFn& progress) {
  SimulationReport report;
  const size_t n = population.size();
  const size_t total = against ? 2 * n : n;
  report.residents = static_cast<int64_t>(n);
  report.revision = rules.revision();
  Side to = MakeSide(rules, population, at, threads, progress, 0, total);
  std::optional<Side> from;
  std::set<std::string> services;
  for (const auto& [s, _] : to.rule_of) services.insert(s);
  if (against) {
    report.against_revision = against->revision();
    from = MakeSide(*against, population, at, threads, progress, n, total);
    for (const auto& [s, _] : from->rule_of) services.insert(s);
  }
  for (const auto& service : services) {
    // Counted by the verdict names' addresses (static strings): no string work per resident.
    std::map<const char*, int64_t> counts, against_counts;
    std::map<std::pair<const char*, const char*>, Transition> moves;
    for (PersonIndex p = 0; p < n; ++p) {
      const char* now = to.VerdictOf(service, p);
      if (Counted(now)) ++counts[now];
      if (!from) continue;
      const char* before = from->VerdictOf(service, p);
      if (Counted(before)) ++against_counts[before];
      if (before == now || (!Counted(before) && !Counted(now))) continue;  // no decision either way
      Transition& t = moves[{before, now}];
      ++t.count;
      if (t.examples.size() < examples) t.examples.push_back(population.store_id(p));
    }
    for (const auto& [verdict, count] : counts) report.counts[service][verdict] = count;
    for (const auto& [verdict, count] : against_counts) report.against_counts[service][verdict] = count;
    for (auto& [fromto, t] : moves) {
      report.changed += t.count;
      report.transitions[{service, fromto.first, fromto.second}] = std::move(t);
    }
  }
  return report;
}

std::string RenderSimulation(const SimulationReport& r, Date at, const std::string& rules_dir,
                             const std::string& against_dir, const std::function<std::string(int64_t)>& pseudonym_of) {
  std::string s =
      fmt::format("simulated {} residents on {} (read-only: nothing sent or written)\n", r.residents, at.ToString());
  s += fmt::format("  rules    {} (revision {})\n", rules_dir, r.revision);
  if (!against_dir.empty()) s += fmt::format("  against  {} (revision {})\n", against_dir, r.against_revision);
  s += "\ndecisions by service and verdict (subjects in applies_to)\n";
  if (against_dir.empty()) {
    if (r.counts.empty()) s += "  none: no resident is in any rule's applies_to\n";
    for (const auto& [service, by] : r.counts) {
      for (const auto& [verdict, count] : by) s += fmt::format("  {:<24} {:<14} {:>9}\n", service, verdict, count);
    }
    return s;
  }
  // Side by side: every (service, verdict) either set has.
  std::map<std::string, std::set<std::string>> rows;
  for (const auto* counts : {&r.counts, &r.against_counts}) {
    for (const auto& [service, by] : *counts) {
      for (const auto& [verdict, _] : by) rows[service].insert(verdict);
    }
  }
  auto get = [](const auto& counts, const std::string& service, const std::string& verdict) -> int64_t {
    auto s = counts.find(service);
    if (s == counts.end()) return 0;
    auto v = s->second.find(verdict);
    return v == s->second.end() ? 0 : v->second;
  };
  s += fmt::format("  {:<24} {:<14} {:>9} {:>9} {:>9}\n", "service", "verdict", "rules", "against", "change");
  if (rows.empty()) s += "  none: no resident is in any rule's applies_to\n";
  for (const auto& [service, verdicts] : rows) {
    for (const auto& verdict : verdicts) {
      int64_t now = get(r.counts, service, verdict), before = get(r.against_counts, service, verdict);
      s += fmt::format("  {:<24} {:<14} {:>9} {:>9} {:>+9}\n", service, verdict, now, before, now - before);
    }
  }
  s += fmt::format("\nchanges against {}: {} subject decision(s) change verdict\n", against_dir, r.changed);
  for (const auto& [key, t] : r.transitions) {
    const auto& [service, from, to] = key;
    s += fmt::format("  {:<24} {} -> {}: {}\n", service, from, to, t.count);
    for (size_t i = 0; i < t.examples.size(); ++i) {
      s += (i % 4 == 0 ? "      " : "  ") + pseudonym_of(t.examples[i]);
      if (i % 4 == 3 || i + 1 == t.examples.size()) s += "\n";
    }
    if (static_cast<int64_t>(t.examples.size()) < t.count) {
      s += fmt::format("      ... and {} more\n", t.count - static_cast<int64_t>(t.examples.size()));
    }
  }
  return s;
}

int RunSimulate(const SimulateOptions& options, std::ostream& out, std::ostream& err) {
  Diagnostics diags;
  auto ctx = OpenToolContext(options.config_path, diags);
  if (!ctx.ok()) {
    err << diags.ToString() << ctx.status().message() << "\n";
    return 2;
  }
  auto at = EvaluationDate(options.at);
  if (!at.ok()) {
    err << at.status().message() << "\n";
    return 2;
  }
  Diagnostics rule_diags;
  auto rules = LoadRuleSet(options.rules_dir, rule_diags);
  std::optional<Result<std::shared_ptr<const RuleSet>>> against;
  if (!options.against_dir.empty()) against = LoadRuleSet(options.against_dir, rule_diags);
  if (!rules.ok() || (against && !against->ok())) {
    out << rule_diags.ToString();
    err << (!rules.ok() ? rules.status().message() : (*against).status().message()) << "\n";
    return 1;
  }
  auto t0 = std::chrono::steady_clock::now();
  // Both rule sets' freshness requirements: a fact's fetch date matters if either asks.
  std::vector<Field> fresh = (*rules)->freshness_fields();
  if (against) {
    for (Field f : (**against)->freshness_fields()) {
      if (std::find(fresh.begin(), fresh.end(), f) == fresh.end()) fresh.push_back(f);
    }
  }
  auto pop = LoadPopulation(*ctx->db, *at, fresh);
  if (!pop.ok()) {
    err << "loading the population: " << pop.status().message() << "\n";
    return 2;
  }
  ProgressFn progress;
  if (options.progress) {
    progress = [&err, last = -1](size_t done, size_t total) mutable {
      int pct = total == 0 ? 100 : static_cast<int>(done * 100 / total);
      if (pct == last) return;
      last = pct;
      std::string bar(static_cast<size_t>(pct * 30 / 100), '#');
      err << fmt::format("\r[{:<30}] {:>3}% {}/{}", bar, pct, done, total) << (done == total ? "\r\033[K" : "")
          << std::flush;
    };
  }
  SimulationReport report = SimulatePopulation(*pop, **rules, against ? against->value().get() : nullptr, *at,
                                               options.examples, options.threads, progress);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto pseudonym_of = [&](int64_t store_id) -> std::string {
    auto st = ctx->db->Prepare("SELECT hetu FROM residents WHERE id = ?");
    if (!st.ok()) return "?";
    st->Bind(1, store_id);
    auto row = st->Step();
    return row.ok() && *row ? ctx->pseudonyms->Of(st->Text(0)) : "?";
  };
  out << RenderSimulation(report, *at, options.rules_dir, options.against_dir, pseudonym_of);
  out << fmt::format("(loaded and evaluated in {:.2f} s)\n", seconds);
  return 0;
}

}  // namespace ennakko
