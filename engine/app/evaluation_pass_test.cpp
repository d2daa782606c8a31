#include "engine/app/evaluation_pass.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "engine/base/hetu.h"
#include "engine/store/migrations.h"

using namespace ennakko;
namespace chr = std::chrono;
namespace fs = std::filesystem;

namespace {

struct Fixture {
  // Unique per process: ctest runs the test cases of this file in parallel.
  fs::path dir = fs::temp_directory_path() / ("ennakko-pass-test-" + std::to_string(::getpid()));
  std::unique_ptr<Db> db;
  FakeClock clock{chr::sys_days{chr::year{2026} / 11 / 22} + chr::hours{8}};
  std::unique_ptr<AuditLog> audit;
  Pseudonymizer pseudonyms{"test-key-test-key-test-key"};
  std::shared_ptr<const RuleSet> rules;
  std::string guardian = MakeHetu(Date::FromYmd(1990, 1, 1), 902);
  std::string child = MakeHetu(Date::FromYmd(2020, 5, 5), 904);

  Fixture() {
    fs::remove_all(dir);
    fs::create_directories(dir);
    db = OpenStore({.path = (dir / "store.db").string()}).value();
    audit = AuditLog::Open({.path = (dir / "audit.jsonl").string()}, clock).value();
    Diagnostics diags;
    rules = RuleSet::Compile(LoadRuleSources(ENNAKKO_SOURCE_ROOT "/rules", diags).value()).value();
    auto st = db->Prepare("INSERT INTO residents (id, hetu, birth_date, municipality, language, first_names, updated_at) "
                          "VALUES (?, ?, ?, '091', ?, ?, 'x')");
    st->Bind(1, 1).Bind(2, guardian).Bind(3, "1990-01-01").Bind(4, "sv").Bind(5, "Anna");
    REQUIRE(st->Run().ok());
    st->Reset();
    st->Bind(1, 2).Bind(2, child).Bind(3, "2020-05-05").Bind(4, "sv").Bind(5, "Lumi");
    REQUIRE(st->Run().ok());
    REQUIRE(db->Exec("INSERT INTO custody (guardian_id, ward_id) VALUES (1, 2)").ok());
  }
  int64_t Count(const char* sql) {
    auto st = db->Prepare(sql);
    REQUIRE(st->Step().value());
    return st->Int(0);
  }
  std::string AuditText() {
    REQUIRE(audit->Flush().ok());
    std::ifstream in(dir / "audit.jsonl");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
};

}  // namespace

TEST_CASE("a pass records a decision and queues one offer per guardian, once", "[pass]") {
  Fixture f;
  auto first = RunEvaluationPass(*f.db, *f.rules, f.clock, *f.audit, f.pseudonyms);
  REQUIRE(first.ok());
  CHECK(first->residents == 2);
  CHECK(first->decisions == 1);
  CHECK(first->by_verdict["eligible"] == 1);
  CHECK(first->offers_queued == 1);
  CHECK(f.Count("SELECT count(*) FROM outbox WHERE state = 'queued' AND language = 'sv'") == 1);
  CHECK(f.Count("SELECT count(*) FROM decisions WHERE verdict = 'eligible' AND eligibility = 'yes' AND data_held = 'yes'") == 1);

  // The same data again: nothing new is recorded, queued or audited.
  auto lines_before = f.audit->seq();
  auto second = RunEvaluationPass(*f.db, *f.rules, f.clock, *f.audit, f.pseudonyms);
  REQUIRE(second.ok());
  CHECK(second->decisions_changed == 0);
  CHECK(second->offers_queued == 0);
  CHECK(f.audit->seq() == lines_before);
  CHECK(f.Count("SELECT count(*) FROM outbox") == 1);

  // The audit log names residents only by pseudonym.
  std::string text = f.AuditText();
  CHECK(text.find(f.child) == std::string::npos);
  CHECK(text.find(f.guardian) == std::string::npos);
  CHECK(text.find(f.pseudonyms.Of(f.child)) != std::string::npos);
  CHECK(text.find("\"type\":\"offer.queued\"") != std::string::npos);
}

TEST_CASE("a queued offer is cancelled when the decision stops being eligible", "[pass]") {
  Fixture f;
  REQUIRE(RunEvaluationPass(*f.db, *f.rules, f.clock, *f.audit, f.pseudonyms).ok());
  REQUIRE(f.db->Exec("INSERT INTO placements (resident_id, kind, start_date) VALUES (2, 'preschool', '2026-08-01')").ok());
  auto pass = RunEvaluationPass(*f.db, *f.rules, f.clock, *f.audit, f.pseudonyms);
  REQUIRE(pass.ok());
  CHECK(pass->decisions_changed == 1);
  CHECK(pass->offers_cancelled == 1);
  CHECK(f.Count("SELECT count(*) FROM outbox WHERE state = 'cancelled'") == 1);
  CHECK(f.Count("SELECT count(*) FROM decisions WHERE verdict = 'not_eligible'") == 1);
}

TEST_CASE("a scheduled rule records decisions at once but queues offers only when due", "[pass]") {
  Fixture f;
  // The shipped rules with a daily 08:00 schedule added.
  fs::path rules_dir = f.dir / "rules";
  fs::copy(ENNAKKO_SOURCE_ROOT "/rules", rules_dir, fs::copy_options::recursive);
  {
    std::ifstream in(rules_dir / "preschool-offer/rule.yaml");
    std::string text((std::istreambuf_iterator<char>(in)), {});
    text.replace(text.find("trigger:\n"), 9, "trigger:\n  schedule: \"daily 08:00\"\n");
    std::ofstream(rules_dir / "preschool-offer/rule.yaml") << text;
  }
  Diagnostics diags;
  auto sources = LoadRuleSources(rules_dir.string(), diags);
  INFO(diags.ToString());
  REQUIRE(sources.ok());
  auto rules = RuleSet::Compile(*sources).value();
  const RuleSpec& spec = *std::find_if(rules->rules().begin(), rules->rules().end(), [](const auto& r) {
                           return r.spec->service == "preschool-offer";
                         })->spec;
  REQUIRE(spec.schedule);

  RuleSchedules schedules(*f.db, f.clock);
  auto due = [&](const RuleSpec& r) { return schedules.Due(r).value(); };
  // First sight (10:00 Helsinki): not due, so the campaign waits for its next 08:00.
  auto first = RunEvaluationPass(*f.db, *rules, f.clock, *f.audit, f.pseudonyms, {.due = due});
  REQUIRE(first.ok());
  CHECK(first->by_verdict["eligible"] == 1);
  CHECK(first->offers_queued == 0);
  CHECK(f.Count("SELECT count(*) FROM decisions") == 1);

  // The next morning at 08:00 Helsinki (06:00 UTC) the run is due: the unchanged eligible
  // decision now queues its offer, once.
  f.clock.Advance(chr::hours{22});
  CHECK(schedules.Due(spec).value());
  auto second = RunEvaluationPass(*f.db, *rules, f.clock, *f.audit, f.pseudonyms, {.due = [](const RuleSpec&) { return true; }});
  REQUIRE(second.ok());
  CHECK(second->decisions_changed == 0);
  CHECK(second->offers_queued == 1);
  REQUIRE(schedules.MarkRun({spec.service}).ok());
  CHECK_FALSE(schedules.Due(spec).value());
  auto third = RunEvaluationPass(*f.db, *rules, f.clock, *f.audit, f.pseudonyms, {.due = [](const RuleSpec&) { return true; }});
  CHECK(third->offers_queued == 0);
  CHECK(f.Count("SELECT count(*) FROM outbox") == 1);
}
