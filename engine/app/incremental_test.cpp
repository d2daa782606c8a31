#include "engine/app/incremental_pass.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "bench/synthetic_city.h"
#include "engine/base/hetu.h"
#include "engine/store/migrations.h"

using namespace ennakko;
namespace chr = std::chrono;
namespace fs = std::filesystem;

namespace {

std::shared_ptr<const RuleSet> Rules(const std::string& dir) {
  Diagnostics diags;
  auto sources = LoadRuleSources(dir, diags);
  REQUIRE(sources.ok());
  return RuleSet::Compile(*sources).value();
}

struct Fixture {
  fs::path dir = fs::temp_directory_path() / ("ennakko-incr-test-" + std::to_string(::getpid()));
  std::unique_ptr<Db> db;
  FakeClock clock{chr::sys_days{chr::year{2026} / 11 / 22} + chr::hours{8}};
  std::unique_ptr<AuditLog> audit;
  Pseudonymizer pseudonyms{"test-key-test-key-test-key"};
  IncrementalEvaluation* inc = nullptr;
  std::unique_ptr<IncrementalEvaluation> owned;
  std::map<int32_t, int> per_birth_date;  // individual numbers used per birth date

  explicit Fixture(const char* name) {
    dir /= name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    db = OpenStore({.path = (dir / "store.db").string()}).value();
    audit = AuditLog::Open({.path = (dir / "audit.jsonl").string()}, clock).value();
    owned = std::make_unique<IncrementalEvaluation>(*db, clock, *audit, pseudonyms);
    inc = owned.get();
  }
  void Exec(const std::string& sql) { REQUIRE(db->Exec(sql).ok()); }
  void AddResident(int64_t id, int32_t birth, std::string_view municipality, std::string_view language,
                   std::string_view street, bool is_protected = false, int32_t death = kNoDate) {
    int n = 900 + per_birth_date[birth]++;
    REQUIRE(n <= 999);
    auto st = db->Prepare(
        "INSERT INTO residents (id, hetu, birth_date, death_date, municipality, language, street_address, "
        "postal_code, address_protected, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'x')");
    st->Bind(1, id).Bind(2, MakeHetu(Date{birth}, n)).Bind(3, Date{birth}.ToString());
    if (death == kNoDate) {
      st->BindNull(4);
    } else {
      st->Bind(4, Date{death}.ToString());
    }
    auto opt = [&](int i, std::string_view v) {
      if (v.empty()) {
        st->BindNull(i);
      } else {
        st->Bind(i, v);
      }
    };
    opt(5, municipality);
    opt(6, language);
    opt(7, is_protected ? "" : street);
    opt(8, is_protected || street.empty() ? "" : "00100");
    st->Bind(9, int64_t{is_protected ? 1 : 0});
    REQUIRE(st->Run().ok());
  }
  int64_t Count(const std::string& sql) {
    auto st = db->Prepare(sql);
    REQUIRE(st->Step().value());
    return st->Int(0);
  }
};


}  // namespace

TEST_CASE("a change to a guardian re-evaluates the ward's rule and nobody else", "[incremental]") {
  Fixture f("guardian");
  auto rules = Rules(ENNAKKO_SOURCE_ROOT "/rules");
  // preschool-offer: about the child, offered to the guardians. (The other shipped rules decide
  // nothing here: nobody is in early childhood education.)
  const std::string service = "preschool-offer";
  auto evaluated = [&] {
    std::set<std::pair<std::string, int64_t>> out;
    for (const auto& e : f.inc->last_evaluated()) {
      if (e.first == service) out.insert(e);
    }
    return out;
  };
  const int32_t kid_birth = Date::FromYmd(2020, 5, 5).days;
  f.AddResident(1, Date::FromYmd(1990, 1, 1).days, "091", "sv", "Testikuja 1");   // guardian
  f.AddResident(2, kid_birth, "091", "sv", "Testikuja 1");                       // ward
  f.AddResident(3, kid_birth, "091", "fi", "Toinenkuja 2");                      // unrelated child
  f.AddResident(4, Date::FromYmd(1991, 2, 2).days, "091", "fi", "Toinenkuja 2");  // its guardian
  f.Exec("INSERT INTO custody (guardian_id, ward_id) VALUES (1, 2), (4, 3)");

  auto full = f.inc->FullPass(*rules);
  REQUIRE(full.ok());
  CHECK(full->offers_queued == 2);
  CHECK(f.inc->last_evaluated().empty());

  // The guardian dies after the offer was queued: the ward's decision has nobody to receive it.
  f.Exec("UPDATE residents SET death_date = '2026-11-20' WHERE id = 1");
  auto pass = f.inc->Changed(*rules, {1});
  REQUIRE(pass.ok());
  // Evaluated: the guardian (changed) and, because the rule reads subject.guardians, the ward.
  CHECK(evaluated() == std::set<std::pair<std::string, int64_t>>{{service, 1}, {service, 2}});
  CHECK(pass->decisions == 1);  // the guardian is outside applies_to; the ward is decided
  CHECK(pass->decisions_changed == 1);
  CHECK(pass->offers_cancelled == 1);
  CHECK(f.Count("SELECT count(*) FROM decisions WHERE subject_id = 2 AND verdict = 'undetermined'") == 1);
  CHECK(f.Count("SELECT count(*) FROM outbox WHERE subject_id = 3 AND state = 'queued'") == 1);

  // A change to the ward alone does not reach the guardian: this rule does not read children.
  f.Exec("UPDATE residents SET municipality = '049' WHERE id = 3");
  pass = f.inc->Changed(*rules, {3});
  REQUIRE(pass.ok());
  CHECK(evaluated() == std::set<std::pair<std::string, int64_t>>{{service, 3}});
  CHECK(pass->offers_cancelled == 1);
}

TEST_CASE("relations the rules read decide the widening", "[incremental]") {
  auto bench = Rules(ENNAKKO_SOURCE_ROOT "/bench/rules");
  auto relations = AnalyseRelations(*bench);
  for (size_t r = 0; r < bench->rules().size(); ++r) {
    const auto& service = bench->rules()[r].spec->service;
    INFO(service);
    if (service == "newborn-family-visit") {
      CHECK(relations[r].children);
    }
    if (service == "preschool-offer") {
      CHECK(relations[r].guardians);
      CHECK_FALSE(relations[r].children);
      CHECK(relations[r].hops == 1);
    }
    if (service == "influenza-vaccination") {
      CHECK_FALSE((relations[r].guardians || relations[r].children || relations[r].siblings || relations[r].household));
      CHECK(relations[r].hops == 0);
    }
  }
  auto shipped = Rules(ENNAKKO_SOURCE_ROOT "/rules");
  CHECK(AnalyseRelations(*shipped)[0].guardians);
}

// Property: after any batch of changes, incremental re-evaluation leaves the store exactly as a
// full pass would — a full pass afterwards finds nothing to record, queue or cancel — and the
// refreshed snapshot equals a fresh load.
TEST_CASE("incremental re-evaluation equals a full pass on a synthetic city", "[incremental]") {
  for (const char* rule_dir : {ENNAKKO_SOURCE_ROOT "/bench/rules", ENNAKKO_SOURCE_ROOT "/rules"}) {
    for (uint64_t seed : {1u, 2u, 3u}) {
      INFO(rule_dir << " seed " << seed);
      Fixture f(("city-" + std::to_string(seed)).c_str());
      auto rules = Rules(rule_dir);
      bench::SyntheticCity city = bench::GenerateCity({.residents = 3000, .seed = seed, .today = f.clock.Today()});
      f.Exec("BEGIN");
      for (const auto& p : city.persons) {
        // Roughly three people per address, so households exist.
        std::string street = "Katu " + std::to_string(p.store_id / 3);
        f.AddResident(p.store_id, p.birth, p.municipality, p.language, street, p.address_protected, p.death);
      }
      for (const auto& c : city.custody) {
        f.Exec("INSERT OR IGNORE INTO custody (guardian_id, ward_id) VALUES (" + std::to_string(c.guardian) + ", " +
               std::to_string(c.ward) + ")");
      }
      for (const auto& p : city.placements) {
        f.Exec("INSERT OR IGNORE INTO placements (resident_id, kind, start_date, end_date) VALUES (" +
               std::to_string(p.person) + ", '" + p.kind + "', '" + Date{p.start}.ToString() + "', " +
               (p.end == kNoDate ? std::string("NULL") : "'" + Date{p.end}.ToString() + "'") + ")");
      }
      f.Exec("COMMIT");
      REQUIRE(f.inc->FullPass(*rules).ok());

      std::mt19937_64 rng(seed);
      auto pick = [&](int64_t n) { return std::uniform_int_distribution<int64_t>(1, n)(rng); };
      int64_t next_id = static_cast<int64_t>(city.persons.size()) + 1;
      for (int round = 0; round < 4; ++round) {
        std::vector<int64_t> changed;
        f.Exec("BEGIN");
        for (int k = 0; k < 60; ++k) {
          int64_t n = next_id - 1;
          int64_t a = pick(n), b = pick(n);
          std::string A = std::to_string(a), B = std::to_string(b);
          switch (pick(9)) {
            case 1: f.Exec("UPDATE residents SET municipality = '049' WHERE id = " + A); break;
            case 2: f.Exec("UPDATE residents SET language = 'so' WHERE id = " + A); break;
            case 3: f.Exec("UPDATE residents SET death_date = '2026-11-01' WHERE id = " + A); break;
            case 4: {  // custody removed; connectors report both sides, so the guardians too
              auto q = f.db->Prepare("SELECT guardian_id FROM custody WHERE ward_id = " + A);
              while (q->Step().value()) changed.push_back(q->Int(0));
              f.Exec("DELETE FROM custody WHERE ward_id = " + A);
              break;
            }
            case 5:  // a birth: a new child in custody of an existing resident
              f.AddResident(next_id, f.clock.Today().days - static_cast<int32_t>(pick(2000)), "091", "fi",
                            "Katu " + B);
              f.Exec("INSERT INTO custody (guardian_id, ward_id) VALUES (" + B + ", " + std::to_string(next_id) + ")");
              changed.push_back(next_id++);
              a = b;
              break;
            case 6: f.Exec("UPDATE residents SET street_address = 'Katu " + B + "' WHERE id = " + A); break;
            case 7:
              f.Exec("UPDATE residents SET address_protected = 1, street_address = NULL, postal_code = NULL "
                     "WHERE id = " + A);
              break;
            case 8:
              f.Exec("INSERT OR IGNORE INTO placements (resident_id, kind, start_date) VALUES (" + A +
                     ", 'preschool', '2026-08-01')");
              break;
            case 9:
              f.Exec("INSERT OR IGNORE INTO custody (guardian_id, ward_id, end_date) VALUES (" + B + ", " + A +
                     ", '2026-11-01')");  // already ended: not in force
              changed.push_back(b);
              break;
          }
          changed.push_back(a);
        }
        f.Exec("COMMIT");
        auto inc = f.inc->Changed(*rules, changed);
        REQUIRE(inc.ok());
        CHECK(!f.inc->last_evaluated().empty());

        // The snapshot equals a fresh load.
        auto fresh = LoadPopulation(*f.db, f.clock.Today(), rules->freshness_fields());
        REQUIRE(fresh.ok());
        const Population& live = f.inc->live()->population();
        REQUIRE(live.size() == fresh->size());
        for (PersonIndex p = 0; p < live.size(); ++p) {
          REQUIRE(live.store_id(p) == fresh->store_id(p));
          REQUIRE(live.death_date(p) == fresh->death_date(p));
          REQUIRE(live.strings().Get(live.municipality(p)) == fresh->strings().Get(fresh->municipality(p)));
          auto same = [&](auto x, auto y) { return std::vector<PersonIndex>(x.begin(), x.end()) ==
                                                   std::vector<PersonIndex>(y.begin(), y.end()); };
          REQUIRE(same(live.guardians(p), fresh->guardians(p)));
          REQUIRE(same(live.siblings(p), fresh->siblings(p)));
          std::vector<PersonIndex> h1(live.household(p).begin(), live.household(p).end());
          std::vector<PersonIndex> h2(fresh->household(p).begin(), fresh->household(p).end());
          std::sort(h1.begin(), h1.end());
          std::sort(h2.begin(), h2.end());
          REQUIRE(h1 == h2);
          REQUIRE(live.placements(p).size() == fresh->placements(p).size());
        }

        // A full pass on the same data finds nothing the incremental one missed.
        auto full = RunEvaluationPass(*f.db, *rules, f.clock, *f.audit, f.pseudonyms);
        REQUIRE(full.ok());
        CHECK(full->decisions_changed == 0);
        CHECK(full->offers_queued == 0);
        CHECK(full->offers_cancelled == 0);
      }
    }
  }
}

TEST_CASE("a new day, or a new rule revision, makes the next pass a full one", "[incremental]") {
  Fixture f("day");
  auto rules = Rules(ENNAKKO_SOURCE_ROOT "/rules");
  f.AddResident(1, Date::FromYmd(1990, 1, 1).days, "091", "fi", "Testikuja 1");
  CHECK(f.inc->NeedsFullPass(*rules));
  REQUIRE(f.inc->FullPass(*rules).ok());
  CHECK_FALSE(f.inc->NeedsFullPass(*rules));
  f.clock.Advance(chr::hours(24));
  CHECK(f.inc->NeedsFullPass(*rules));
  REQUIRE(f.inc->Changed(*rules, {1}).ok());
  CHECK(f.inc->last_evaluated().empty());  // it was a full pass
  CHECK_FALSE(f.inc->NeedsFullPass(*rules));
  auto bench = Rules(ENNAKKO_SOURCE_ROOT "/bench/rules");
  CHECK(f.inc->NeedsFullPass(*bench));
}
