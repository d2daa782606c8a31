// dispatch_bench: how many offers a second the dispatcher sends, with the outbox durable.
//
// Builds a store file with N guardians of one child and N queued pre-primary offers (the shipped
// rules/preschool-offer rule: channels suomifi, sms, email, file), then times Dispatcher::DrainOnce
// until the outbox is empty: claim (one transaction), channel choice, render, send on `workers`
// threads, record every outcome (one transaction), audit (a real hash-chained AuditLog, flushed
// after every batch). Every state transition is committed in SQLite (WAL, synchronous FULL by
// default) before the next batch starts. Prints offers/s and checks that every offer is `sent`
// exactly once.
//
//   dispatch_bench [--offers N] [--batch N] [--workers N] [--sync full|normal]
//                  [--channel file|kannel|null] [--sendsms-url URL --username U --password P]
//                  [--dir DIR]
//
// --channel file (default): the file channel into DIR/out. --channel kannel: SMS through Kannel's
// sendsms (use bench/dispatch_kannel_bench.py, which starts Kannel and counts at the fake SMSC).
// --channel null: a channel that accepts at once, to see the dispatcher's and the store's own cost.
// SMS quiet hours are switched off here so the figure does not depend on the time of day.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "connectors/channels/file_channel.h"
#include "connectors/channels/kannel_sms_channel.h"
#include "engine/audit/audit_log.h"
#include "engine/audit/pseudonym.h"
#include "engine/base/hetu.h"
#include "engine/dispatch/dispatcher.h"
#include "engine/store/migrations.h"

using namespace ennakko;
namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

namespace {

// Accepts everything at once: the dispatcher's own cost, without a gateway.
class NullChannel : public Channel {
 public:
  std::string_view name() const override { return "file"; }
  bool idempotent() const override { return true; }
  std::string CannotReach(const Recipient&) const override { return {}; }
  SendOutcome Send(const OutgoingMessage&) override { return SendOutcome::Sent(); }
};

struct Args {
  int offers = 20000;
  int batch = 256;
  int workers = 4;
  bool sync_full = true;
  std::string channel = "file";
  std::string sendsms_url, username, password;
  std::string dir;
};

int Usage() {
  std::fprintf(stderr, "usage: dispatch_bench [--offers N] [--batch N] [--workers N] [--sync full|normal] "
                       "[--channel file|kannel|null] [--sendsms-url URL --username U --password P] [--dir DIR]\n");
  return 2;
}

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

Status Populate(Db& db, const Clock& clock, int n, bool phones) {
  Transaction tx(db);
  ENNAKKO_RETURN_IF_ERROR(tx.begin_status());
  const std::string child = MakeHetu(Date::FromYmd(2020, 5, 5), 990);
  auto st = db.Prepare("INSERT INTO residents (id, hetu, first_names, language, phone, updated_at) VALUES (?,?,?,?,?, 'x')");
  if (!st.ok()) return st.status();
  st->Bind(1, 1).Bind(2, child).Bind(3, "Lumi Maria").Bind(4, "fi").BindNull(5);
  ENNAKKO_RETURN_IF_ERROR(st->Run());
  Outbox outbox(db, clock);
  static const char* kLang[] = {"fi", "fi", "fi", "sv", "en"};
  for (int i = 0; i < n; ++i) {
    // Synthetic guardians: birth dates spread over 1960-1999, individual numbers 900-999.
    Date birth = Date{Date::FromYmd(1960, 1, 1).days + (i / 100) % 14600};
    std::string code = MakeHetu(birth, 900 + i % 100);
    st->Reset();
    st->Bind(1, i + 2).Bind(2, code).Bind(3, "Guardian").Bind(4, kLang[i % 5]);
    if (phones) st->Bind(5, "+35850" + std::to_string(1000000 + i)); else st->BindNull(5);
    ENNAKKO_RETURN_IF_ERROR(st->Run());
    auto id = outbox.Enqueue({"preschool-offer", 1, i + 2, "2026", 0, kLang[i % 5],
                              OfferKey("preschool-offer", child, code, "2026")});
    if (!id.ok()) return id.status();
  }
  return tx.Commit();
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = next();
    if (!v) return Usage();
    if (k == "--offers") a.offers = std::atoi(v);
    else if (k == "--batch") a.batch = std::atoi(v);
    else if (k == "--workers") a.workers = std::atoi(v);
    else if (k == "--sync") a.sync_full = std::strcmp(v, "full") == 0;
    else if (k == "--channel") a.channel = v;
    else if (k == "--sendsms-url") a.sendsms_url = v;
    else if (k == "--username") a.username = v;
    else if (k == "--password") a.password = v;
    else if (k == "--dir") a.dir = v;
    else return Usage();
  }
  if (a.offers <= 0 || a.batch <= 0 || a.workers <= 0) return Usage();
  const bool kannel = a.channel == "kannel";
  const bool null_channel = a.channel == "null";
  if (!kannel && !null_channel && a.channel != "file") return Usage();
  fs::path dir = a.dir.empty() ? fs::temp_directory_path() / ("ennakko-dispatch-bench-" + std::to_string(::getpid())) : fs::path(a.dir);
  fs::remove_all(dir);
  fs::create_directories(dir);

  SystemClock clock;
  auto db = OpenStore({.path = (dir / "store.db").string(), .synchronous_full = a.sync_full});
  if (!db.ok()) { std::fprintf(stderr, "%s\n", db.status().ToString().c_str()); return 1; }
  auto t0 = SteadyClock::now();
  if (Status st = Populate(**db, clock, a.offers, kannel); !st.ok()) {
    std::fprintf(stderr, "populate: %s\n", st.ToString().c_str());
    return 1;
  }
  std::printf("setup: %d residents and queued offers in %.2f s\n", a.offers, Seconds(SteadyClock::now() - t0));

  Diagnostics diags;
  auto sources = LoadRuleSources(ENNAKKO_SOURCE_ROOT "/rules", diags);
  if (!sources.ok()) { std::fprintf(stderr, "%s", diags.ToString().c_str()); return 1; }
  auto rules = RuleSet::Compile(*sources);
  if (!rules.ok()) return 1;

  std::unique_ptr<Channel> channel;
  if (kannel) {
    KannelSmsOptions o;
    o.sendsms_url = a.sendsms_url;
    o.username = a.username;
    o.password = a.password;
    o.max_messages = 3;
    channel = std::make_unique<KannelSmsChannel>(o);
  } else if (null_channel) {
    channel = std::make_unique<NullChannel>();
  } else {
    channel = std::make_unique<FileChannel>(FileChannelOptions{.directory = (dir / "out").string(), .batch_sync = true});
  }
  auto audit = AuditLog::Open({.path = (dir / "audit.jsonl").string()}, clock);
  if (!audit.ok()) { std::fprintf(stderr, "%s\n", audit.status().ToString().c_str()); return 1; }
  Pseudonymizer pseudonyms("bench-key-0123456789abcdef0123456789abcdef");
  DispatcherOptions options;
  options.batch_size = a.batch;
  options.workers = a.workers;
  options.quiet_hours.clear();
  Dispatcher dispatcher(options, **db, clock, {{std::string(channel->name()), channel.get()}},
                        [&](std::string_view type, const nlohmann::json& f) { (void)(*audit)->Append(type, f); },
                        [&](std::string_view code) { return pseudonyms.Of(code); });
  dispatcher.SetRules(*rules);

  std::atomic<bool> stop{false};
  int sent = 0, batches = 0, other = 0;
  t0 = SteadyClock::now();
  for (;;) {
    auto stats = dispatcher.DrainOnce(stop);
    if (!stats.ok()) { std::fprintf(stderr, "drain: %s\n", stats.status().ToString().c_str()); return 1; }
    if (Status st = (*audit)->Flush(); !st.ok()) { std::fprintf(stderr, "audit: %s\n", st.ToString().c_str()); return 1; }
    if (stats->claimed == 0 && stats->held == 0 && stats->failed == 0) break;
    ++batches;
    sent += stats->sent;
    other += stats->retried + stats->failed + stats->held;
  }
  const double elapsed = Seconds(SteadyClock::now() - t0);

  auto counts = Outbox(**db, clock).CountByState();
  int64_t in_sent = counts.ok() && counts->count("sent") ? counts->at("sent") : 0;
  std::printf("channel %s: %d offers sent in %.3f s = %.0f offers/s (%d batches of up to %d, %d workers, synchronous=%s)\n",
              a.channel.c_str(), sent, elapsed, sent / elapsed, batches, a.batch, a.workers, a.sync_full ? "FULL" : "NORMAL");
  std::printf("outbox: %lld sent, %d retried/failed/held; audit events %llu\n", static_cast<long long>(in_sent), other,
              static_cast<unsigned long long>((*audit)->seq()));
  if (!kannel && !null_channel) {
    size_t files = 0;
    for (const auto& e : fs::directory_iterator(dir / "out")) files += e.is_regular_file();
    std::printf("file channel: %zu files\n", files);
    if (static_cast<int>(files) != a.offers) return 1;
  }
  if (a.dir.empty()) fs::remove_all(dir);
  return in_sent == a.offers ? 0 : 1;
}
