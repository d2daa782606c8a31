// ennakko-democity: writes the demo city's file drop and optionally loads it into a store,
// printing how long each step took. A tool for demos and load measurements, not the daemon.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "connectors/registries/population_filedrop.h"
#include "engine/demo/democity.h"
#include "engine/store/migrations.h"

using namespace ennakko;

int main(int argc, char** argv) {
  CLI::App app{"Write the Ennakko demo city in the population file-drop format"};
  DemoCityOptions o;
  std::string today = "2026-01-15";
  std::string load;
  app.add_option("--out", o.out_dir, "output directory")->required();
  app.add_option("--residents", o.residents, "residents in the snapshot");
  app.add_option("--seed", o.seed, "random seed");
  app.add_option("--municipality", o.municipality, "kuntakoodi of the city");
  app.add_option("--today", today, "the snapshot's date, YYYY-MM-DD");
  app.add_option("--batches", o.change_batches, "change batches after the snapshot");
  app.add_flag("--malformed", o.inject_malformed, "two malformed lines in the last batch");
  app.add_option("--load", load, "load the drop into this SQLite file (replaced) and time it");
  CLI11_PARSE(app, argc, argv);
  auto date = Date::Parse(today);
  if (!date) {
    fmt::print(stderr, "--today: not a date\n");
    return 2;
  }
  o.today = *date;

  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::time_point a) {
    return std::chrono::duration<double>(Clock::now() - a).count();
  };
  auto t0 = Clock::now();
  auto stats = GenerateDemoCity(o);
  if (!stats.ok()) {
    fmt::print(stderr, "{}\n", stats.status().ToString());
    return 1;
  }
  fmt::print(
      "generated {} residents ({} families, {} children, pre-primary cohort {} / {} in "
      "the city / {} placed) in {:.2f} s\n",
      stats->residents, stats->families, stats->children, stats->preprimary_cohort,
      stats->preprimary_cohort_in_city, stats->preprimary_placed, seconds(t0));
  if (load.empty()) return 0;

  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(load + suffix);
  auto db = OpenStore({.path = load, .synchronous_full = false});
  if (!db.ok()) {
    fmt::print(stderr, "{}\n", db.status().ToString());
    return 1;
  }
  spdlog::set_level(spdlog::level::warn);
  FileDropPopulationSource source(FileDropOptions{.directory = o.out_dir});
  auto thread_cpu = [] {
    rusage u{};
    getrusage(RUSAGE_THREAD, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  };
  const double cpu0 = thread_cpu();
  auto t1 = Clock::now();
  auto r = source.Poll(**db);
  const double s = seconds(t1);
  const double applying_cpu = thread_cpu() - cpu0;
  if (!r.ok()) {
    fmt::print(stderr, "{}\n", r.status().ToString());
    return 1;
  }
  fmt::print(
      "loaded {} batches, {} records ({} quarantined) in {:.2f} s: {:.0f} records/s "
      "(applying thread CPU {:.2f} s)\n",
      r->batches_applied, r->records_applied, r->records_quarantined, s,
      static_cast<double>(r->records_applied + r->records_quarantined) / s, applying_cpu);
  return 0;
}
