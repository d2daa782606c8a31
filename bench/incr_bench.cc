// incr_bench: the registry-side performance targets of issue 4, measured end to end through the
// population file drop into a SQLite store on disk, and printed (not judged, except the target
// column).
//
//   (a) initial load: a demo-city snapshot of N residents (default 1,000,000) applied by the
//       file-drop connector into an empty store: records/s;
//   (b) a full evaluation pass over it (the daemon's start-up pass), for reference;
//   (c) a change batch of 10,000 changes (moves, address and language changes, births with
//       custody, deaths, phone numbers) applied by the connector AND its affected subjects
//       re-evaluated, decisions recorded and offers queued/cancelled (IncrementalEvaluation):
//       seconds, split into apply / refresh / evaluate / record;
//   (d) peak RSS.
//
// Usage: incr_bench [--residents N] [--changes N] [--dir DIR] [--rules DIR] [--keep] [--load-only]
// Writes only under DIR (default: a fresh directory in /tmp), removed at the end unless --keep.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>

#include "connectors/registries/filedrop_connector.h"
#include "engine/app/incremental_pass.h"
#include "engine/base/hetu.h"
#include "engine/demo/democity.h"
#include "engine/store/migrations.h"
#include "engine/store/wal_checkpointer.h"

using namespace ennakko;
namespace fs = std::filesystem;
namespace chr = std::chrono;

namespace {

double Since(chr::steady_clock::time_point t0) {
  return chr::duration<double>(chr::steady_clock::now() - t0).count();
}

// Process CPU time (all threads): on a shared machine wall time includes waiting for a core.
double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double PeakRssMib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

std::string D(const Date& d) { return R"({"arvo":")" + d.ToString() + R"(","tarkkuus":"PAIVA"})"; }

// 10,000 (or n) change lines about residents of the store, in the file-drop format.
Status WriteChanges(Db& db, const fs::path& file, int n, Date today, uint64_t seed) {
  struct Person {
    std::string hetu;
    std::string birth;
  };
  std::vector<Person> people;
  auto q = db.Prepare("SELECT hetu, birth_date FROM residents WHERE death_date IS NULL");
  if (!q.ok()) return q.status();
  while (q->Step().value()) people.push_back({q->Text(0), q->Text(1)});
  std::mt19937_64 rng(seed);
  auto pick = [&](size_t k) { return std::uniform_int_distribution<size_t>(0, k - 1)(rng); };
  std::map<int32_t, int> used;  // individual numbers for births, per birth date (counted down from 999)
  std::ofstream out(file.string() + ".tmp");
  const std::string day = today.ToString();
  int births = 0;
  for (int i = 0; i < n; ++i) {
    const Person& p = people[pick(people.size())];
    std::string head = R"({"henkilotunnus":")" + p.hetu + R"(","muutospv":")" + day + R"(","tietoryhmat":[)";
    int kind = static_cast<int>(pick(100));
    if (kind < 35) {  // a move: municipality and address
      out << head << R"({"tietoryhma":"KOTIKUNTA","muutosattribuutti":"MUUTETTU","kuntakoodi":")"
          << (pick(4) == 0 ? "049" : "091") << R"(","kuntaanMuuttopv":)" << D(today) << "},"
          << R"({"tietoryhma":"VAKINAINEN_KOTIMAINEN_OSOITE","muutosattribuutti":"MUUTETTU","katuosoite":"Uusikatu )"
          << pick(5000) << R"(","postinumero":"00510","postitoimipaikka":"HELSINKI"}]})" << "\n";
    } else if (kind < 55) {  // address within the city
      out << head << R"({"tietoryhma":"VAKINAINEN_KOTIMAINEN_OSOITE","muutosattribuutti":"MUUTETTU","katuosoite":"Toinenkatu )"
          << pick(5000) << R"(","postinumero":"00100","postitoimipaikka":"HELSINKI"}]})" << "\n";
    } else if (kind < 65) {  // mother tongue corrected
      out << head << R"({"tietoryhma":"AIDINKIELI","muutosattribuutti":"KORJATTU","kielikoodi":")"
          << (pick(2) ? "sv" : "en") << R"("}]})" << "\n";
    } else if (kind < 75) {  // a birth: the child with custody of an adult
      Date born = Date{today.days - static_cast<int32_t>(pick(20))};
      int number = 999 - used[born.days]++;
      std::string child = MakeHetu(born, number);
      out << R"({"henkilotunnus":")" << child << R"(","muutospv":")" << day << R"(","tietoryhmat":[)"
          << R"({"tietoryhma":"KOTIKUNTA","muutosattribuutti":"LISATTY","kuntakoodi":"091"},)"
          << R"({"tietoryhma":"AIDINKIELI","muutosattribuutti":"LISATTY","kielikoodi":"fi"},)"
          << R"({"tietoryhma":"HUOLTAJA_SUPPEA","muutosattribuutti":"LISATTY","henkilotunnus":")" << p.hetu
          << R"(","huoltosuhteenAlkupv":)" << D(born) << "}]}\n";
      ++births;
    } else if (kind < 78) {  // a death
      out << head << R"({"tietoryhma":"KUOLINPAIVA","muutosattribuutti":"LISATTY","kuolinpv":)" << D(today)
          << "}]}\n";
    } else {  // contact details from the city's register
      out << head << R"({"tietoryhma":"YHTEYSTIEDOT","muutosattribuutti":"MUUTETTU","puhelin":"+35850)" << 1000000 + i
          << R"("}]})" << "\n";
    }
  }
  out.close();
  fs::rename(file.string() + ".tmp", file);
  std::printf("    change batch: %d lines (%d births)\n", n, births);
  return Status::Ok();
}

int Fail(const Status& st) {
  std::fprintf(stderr, "incr_bench: %s\n", st.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  int residents = 1'000'000, changes = 10'000;
  fs::path dir = fs::temp_directory_path() / ("ennakko-incr-bench-" + std::to_string(::getpid()));
  std::string rules_dir = ENNAKKO_SOURCE_ROOT "/bench/rules";
  bool keep = false, load_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--residents") residents = std::stoi(next());
    else if (a == "--changes") changes = std::stoi(next());
    else if (a == "--dir") dir = next();
    else if (a == "--rules") rules_dir = next();
    else if (a == "--keep") keep = true;
    else if (a == "--load-only") load_only = true;  // stop after (a), e.g. to profile the load
    else {
      std::fprintf(stderr, "usage: incr_bench [--residents N] [--changes N] [--dir DIR] [--rules DIR] [--keep] [--load-only]\n");
      return 2;
    }
  }
  fs::remove_all(dir);
  fs::create_directories(dir / "drop");
  FakeClock clock{chr::sys_days{chr::year{2026} / 11 / 22} + chr::hours{8}};
  const Date today = clock.Today();

  std::printf("incr_bench: %d residents, %d changes, rules %s, store %s\n", residents, changes, rules_dir.c_str(),
              (dir / "store.db").c_str());
  auto t0 = chr::steady_clock::now();
  auto city = GenerateDemoCity({.seed = 42, .residents = residents, .today = today, .change_batches = 0,
                                .out_dir = (dir / "drop").string()});
  if (!city.ok()) return Fail(city.status());
  std::printf("    demo city generated in %.2f s (not timed below)\n", Since(t0));

  // As the daemon opens its store: WAL checkpoints on a thread of their own, not in the commits.
  auto db = OpenStore({.path = (dir / "store.db").string(), .auto_checkpoint = false});
  if (!db.ok()) return Fail(db.status());
  auto checkpointer = WalCheckpointer::Start((dir / "store.db").string(), true, chr::seconds(1));
  if (!checkpointer.ok()) return Fail(checkpointer.status());
  FileDropConnector connector(FileDropOptions{.directory = (dir / "drop").string()}, chr::seconds(60), &clock);

  // (a) initial load
  t0 = chr::steady_clock::now();
  double cpu0 = CpuSeconds();
  auto loaded = connector.Poll(**db);
  if (!loaded.ok()) return Fail(loaded.status());
  double load_s = Since(t0), load_cpu = CpuSeconds() - cpu0;
  double rate = static_cast<double>(loaded->records_applied) / load_s;
  std::printf("(a) initial load: %lld records in %.2f s = %.0f records/s  [target >= 200000: %s]\n"
              "    CPU %.2f s (both threads: parser and writer)\n",
              static_cast<long long>(loaded->records_applied), load_s, rate, rate >= 200000 ? "met" : "NOT met",
              load_cpu);
  if (load_only) {
    checkpointer->reset();
    if (!keep) fs::remove_all(dir);
    return 0;
  }

  // (b) the start-up full pass
  Diagnostics diags;
  auto sources = LoadRuleSources(rules_dir, diags);
  if (!sources.ok()) return Fail(sources.status());
  auto rules = RuleSet::Compile(*sources);
  if (!rules.ok()) return Fail(rules.status());
  auto audit = AuditLog::Open({.path = (dir / "audit.jsonl").string()}, clock);
  if (!audit.ok()) return Fail(audit.status());
  Pseudonymizer pseudonyms("bench-key-bench-key-bench-key");
  IncrementalEvaluation evaluation(**db, clock, **audit, pseudonyms);
  t0 = chr::steady_clock::now();
  auto full = evaluation.FullPass(**rules);
  if (!full.ok()) return Fail(full.status());
  std::printf("(b) full pass: %.2f s (load %.2f, evaluate %.2f, record %.2f); %lld decisions, %lld offers queued\n",
              Since(t0), full->load_seconds, full->evaluate_seconds, full->record_seconds,
              static_cast<long long>(full->decisions), static_cast<long long>(full->offers_queued));

  // (c) a change batch, applied and re-evaluated
  clock.Advance(chr::minutes(5));
  if (Status st = WriteChanges(**db, dir / "drop" / "000001.changes.jsonl", changes, today, 7); !st.ok()) {
    return Fail(st);
  }
  t0 = chr::steady_clock::now();
  cpu0 = CpuSeconds();
  auto applied = connector.Poll(**db);
  if (!applied.ok()) return Fail(applied.status());
  double apply_s = Since(t0);
  auto t1 = chr::steady_clock::now();
  auto inc = evaluation.Changed(**rules, applied->changed_residents);
  if (!inc.ok()) return Fail(inc.status());
  double reeval_s = Since(t1);
  double total = apply_s + reeval_s, change_cpu = CpuSeconds() - cpu0;
  std::printf("(c) change batch: %lld records applied, %zu residents changed, %zu subject-rule pairs re-evaluated\n"
              "    apply %.3f s + re-evaluate %.3f s (refresh %.3f, evaluate %.3f, record %.3f) = %.3f s"
              "  [target < 1 s: %s]\n"
              "    CPU %.3f s; %lld decisions, %lld changed, %lld offers queued, %lld cancelled\n",
              static_cast<long long>(applied->records_applied), applied->changed_residents.size(),
              evaluation.last_evaluated().size(), apply_s, reeval_s, inc->load_seconds, inc->evaluate_seconds,
              inc->record_seconds, total, total < 1.0 ? "met" : "NOT met", change_cpu, static_cast<long long>(inc->decisions),
              static_cast<long long>(inc->decisions_changed), static_cast<long long>(inc->offers_queued),
              static_cast<long long>(inc->offers_cancelled));
  std::printf("(d) peak RSS %.0f MiB; store %.0f MiB on disk\n", PeakRssMib(),
              static_cast<double>(fs::file_size(dir / "store.db")) / (1024.0 * 1024.0));
  checkpointer->reset();
  if (!keep) fs::remove_all(dir);
  return 0;
}
