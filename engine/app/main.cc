// The `ennakko` command: serve, rules check/test, explain, simulate, audit tail/verify, report
// funnel, demo generate, version. Exit codes: 0 ok, 1 findings (rule errors, failed rule tests, audit chain
// broken, subject not found), 2 usage or configuration error.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <map>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "engine/app/config.h"
#include "engine/app/daemon.h"
#include "engine/app/explain.h"
#include "engine/app/replies_service.h"
#include "engine/app/message_check.h"
#include "engine/app/rule_tests.h"
#include "engine/app/simulate.h"
#include "engine/audit/tail.h"
#include "engine/audit/verify.h"
#include "engine/base/date.h"
#include "engine/demo/democity.h"
#include "engine/lang/rule.h"
#include "engine/store/migrations.h"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

// The audit log path and the head recorded in the store, from --config; or --file alone.
struct AuditTarget {
  std::string path;
  std::optional<ennakko::AuditHead> head;
};

int ResolveAudit(const std::string& config_path, const std::string& file, AuditTarget* out) {
  if (!file.empty()) {
    out->path = file;
    return 0;
  }
  ennakko::Diagnostics diags;
  auto config = ennakko::LoadConfig(config_path, diags);
  if (!config.ok()) {
    std::cerr << diags.ToString() << config.status().message() << "\n";
    return 2;
  }
  out->path = config->audit_path;
  auto db = ennakko::Db::Open({.path = config->store_path, .read_only = true});
  if (db.ok()) {
    auto st = (*db)->Prepare("SELECT seq, hash FROM audit_head WHERE id = 1");
    if (st.ok()) {
      auto row = st->Step();
      if (row.ok() && *row) out->head = ennakko::AuditHead{static_cast<uint64_t>(st->Int(0)), st->Text(1)};
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Application logs go to stderr (journald keeps them); stdout is for command output.
  spdlog::set_default_logger(spdlog::stderr_color_mt("ennakko"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  CLI::App app{"Ennakko: proactive city services. Offers a service when the city holds the data, "
               "has permission, is obliged, the resident is eligible, and acting first benefits both."};
  app.require_subcommand(1);
  app.set_version_flag("--version", ENNAKKO_VERSION);

  std::string config_path = "deploy/ennakko.yaml";
  auto* serve = app.add_subcommand("serve", "Run the daemon");
  serve->add_option("--config,-c", config_path, "Configuration file")->capture_default_str();

  auto* rules = app.add_subcommand("rules", "Rule author tools");
  rules->require_subcommand(1);
  std::vector<std::string> rule_paths;
  auto* rules_check = rules->add_subcommand("check", "Validate rule files or directories: schema, types, declared data");
  rules_check->add_option("paths", rule_paths, "Rule directories or rule.yaml files")->required();
  ennakko::RuleTestOptions test_options;
  auto* rules_test = rules->add_subcommand("test", "Run the rule tests in <rules dir>/<service>/tests/*.yaml");
  rules_test->add_option("paths", test_options.paths, "Rules directories, service directories or test files (default: rules)");
  rules_test->add_flag("-v,--verbose", test_options.verbose, "Also list the cases that pass");

  ennakko::ExplainOptions explain_options;
  std::string explain_at;
  auto* explain = app.add_subcommand("explain", "Explain one subject's decision: conditions, reasons, facts with provenance, parameters");
  explain->add_option("--config,-c", explain_options.config_path, "Configuration file (store, rules, pseudonym key)")->capture_default_str();
  explain->add_option("--service", explain_options.service, "Service id, e.g. preschool-offer")->required();
  explain->add_option("--subject", explain_options.subject, "Identity code or pseudonym (p-...)")->required();
  explain->add_option("--at", explain_at, "Evaluation date YYYY-MM-DD (default: today in Helsinki)");
  explain->add_flag("--json", explain_options.json, "Print one JSON object");

  ennakko::SimulateOptions simulate_options;
  std::string simulate_at;
  auto* simulate = app.add_subcommand("simulate", "Evaluate the stored population with a rule set, read-only; compare with another");
  simulate->add_option("--config,-c", simulate_options.config_path, "Configuration file (store, pseudonym key)")->capture_default_str();
  simulate->add_option("--rules", simulate_options.rules_dir, "Rules directory to simulate")->required();
  simulate->add_option("--against", simulate_options.against_dir, "Rules directory to compare with (e.g. the one in production)");
  simulate->add_option("--at", simulate_at, "Evaluation date YYYY-MM-DD (default: today in Helsinki)");
  simulate->add_option("--examples", simulate_options.examples, "Example pseudonyms per transition")->capture_default_str();
  simulate->add_option("--threads", simulate_options.threads, "Sweep threads (0: one per hardware thread)")->capture_default_str();

  auto* audit = app.add_subcommand("audit", "Audit log tools");
  audit->require_subcommand(1);
  std::string audit_file;
  size_t tail_lines = 20;
  bool follow = false;
  auto* audit_tail = audit->add_subcommand("tail", "Print the last events, optionally following new ones");
  audit_tail->add_option("--config,-c", config_path, "Configuration file (for the log path)")->capture_default_str();
  audit_tail->add_option("--file", audit_file, "Audit log file (instead of --config)");
  audit_tail->add_option("-n,--lines", tail_lines, "How many of the last events to print")->capture_default_str();
  audit_tail->add_flag("-f,--follow", follow, "Keep printing new events as they are appended");
  auto* audit_verify = audit->add_subcommand("verify", "Check the hash chain: edited, removed, reordered or truncated lines");
  audit_verify->add_option("--config,-c", config_path, "Configuration file (log path and the head kept in the store)")->capture_default_str();
  audit_verify->add_option("--file", audit_file, "Audit log file only (no head check)");

  auto* demo = app.add_subcommand("demo", "Synthetic demo data");
  demo->require_subcommand(1);
  ennakko::DemoCityOptions demo_options;
  std::string demo_today;
  auto* demo_generate = demo->add_subcommand("generate", "Write a synthetic city as population file-drop batches");
  demo_generate->add_option("--out", demo_options.out_dir, "Output directory")->required();
  demo_generate->add_option("--seed", demo_options.seed, "Random seed")->capture_default_str();
  demo_generate->add_option("--residents", demo_options.residents, "Number of residents")->capture_default_str();
  demo_generate->add_option("--today", demo_today, "The snapshot date, YYYY-MM-DD (default: today in Helsinki)");
  demo_generate->add_option("--change-batches", demo_options.change_batches, "Change batches after the snapshot")->capture_default_str();
  demo_generate->add_flag("--inject-malformed", demo_options.inject_malformed, "Add malformed lines to the last batch");
  demo_generate->add_option("--groups", demo_options.groups,
                            "Info groups written: all, vtj (the population register's), city (placements and contacts)")
      ->transform(CLI::CheckedTransformer(std::map<std::string, ennakko::DemoCityGroups>{
          {"all", ennakko::DemoCityGroups::kAll},
          {"vtj", ennakko::DemoCityGroups::kPopulationRegister},
          {"city", ennakko::DemoCityGroups::kCityRegisters}}));

  auto* report = app.add_subcommand("report", "Reports from the store");
  report->require_subcommand(1);
  std::string report_service, report_period;
  auto* report_funnel = report->add_subcommand("funnel", "Eligible -> offered -> delivered -> responded -> accepted, per service and period");
  report_funnel->add_option("--config,-c", config_path, "Configuration file (store)")->capture_default_str();
  report_funnel->add_option("--service", report_service, "Only this service");
  report_funnel->add_option("--period", report_period, "Only this period (campaign), e.g. 2026");

  auto* version = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  if (*version) {
    std::cout << "ennakko " << ENNAKKO_VERSION << "\n";
    return 0;
  }
  if (*serve) return ennakko::RunServe(config_path);
  if (*report_funnel) return ennakko::RunReportFunnel(config_path, report_service, report_period, std::cout, std::cerr);
  if (*rules_check) {
    ennakko::Diagnostics diags;
    ennakko::Status st = ennakko::CheckRulePaths(rule_paths, diags);
    if (st.ok()) ennakko::ReportSmsSizes(rule_paths, std::cout, diags);
    std::cout << diags.ToString();
    if (!st.ok()) {
      std::cout << diags.error_count() << " error" << (diags.error_count() == 1 ? "" : "s") << "\n";
      return 1;
    }
    std::cout << "ok: no errors\n";
    return 0;
  }
  if (*rules_test) return ennakko::RunRuleTests(test_options, std::cout).ExitCode();
  if (*explain) {
    if (!explain_at.empty()) explain_options.at = explain_at;
    return ennakko::RunExplain(explain_options, std::cout, std::cerr);
  }
  if (*simulate) {
    if (!simulate_at.empty()) simulate_options.at = simulate_at;
    simulate_options.progress = isatty(STDERR_FILENO) != 0;
    return ennakko::RunSimulate(simulate_options, std::cout, std::cerr);
  }
  if (*audit_tail) {
    AuditTarget target;
    if (int rc = ResolveAudit(config_path, audit_file, &target)) return rc;
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    ennakko::Status st = ennakko::TailAuditLog(target.path, tail_lines, follow, std::cout, g_stop);
    if (!st.ok()) {
      std::cerr << st.message() << "\n";
      return 2;
    }
    return 0;
  }
  if (*audit_verify) {
    AuditTarget target;
    if (int rc = ResolveAudit(config_path, audit_file, &target)) return rc;
    auto report = ennakko::VerifyAuditLog(target.path, target.head);
    if (!report.ok()) {
      std::cerr << report.status().message() << "\n";
      return 2;
    }
    for (const auto& f : report->findings) std::cout << target.path << ":" << f.line << ": " << f.problem << "\n";
    if (!report->ok()) {
      std::cout << report->findings.size() << " problem(s) in " << report->lines << " lines\n";
      return 1;
    }
    std::cout << "ok: " << report->lines << " events, chain intact" << (target.head ? ", head matches the store" : "")
              << "\n";
    return 0;
  }
  if (*demo_generate) {
    if (demo_today.empty()) {
      demo_options.today = ennakko::SystemClock().Today();
    } else if (auto d = ennakko::Date::Parse(demo_today)) {
      demo_options.today = *d;
    } else {
      std::cerr << "--today must be YYYY-MM-DD\n";
      return 2;
    }
    auto stats = ennakko::GenerateDemoCity(demo_options);
    if (!stats.ok()) {
      std::cerr << stats.status().message() << "\n";
      return 2;
    }
    std::cout << "wrote " << stats->residents << " residents (" << stats->preprimary_cohort_in_city
              << " in the city's pre-primary cohort) and " << stats->files.size() << " batch files to "
              << demo_options.out_dir << "\n";
    return 0;
  }
  return 2;
}
