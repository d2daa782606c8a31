#include "engine/eval/sweep.h"

#include <algorithm>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

using namespace ennakko;

namespace {

std::shared_ptr<const RuleSet> LoadRules(const std::string& dir) {
  Diagnostics diags;
  auto sources = LoadRuleSources(dir, diags);
  INFO(diags.ToString());
  REQUIRE(sources.ok());
  auto set = RuleSet::Compile(*sources);
  REQUIRE(set.ok());
  return *set;
}

// A few thousand residents in families: two guardians (sometimes one, sometimes dead), children of
// every age (some without municipality or guardians), placements of all kinds, and older adults.
Population SmallCity(uint64_t seed, int families) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const Date today = *Date::Parse("2026-11-22");
  PopulationBuilder b;
  int64_t id = 1;
  const char* kMunicipalities[] = {"091", "091", "091", "049", ""};
  const char* kLanguages[] = {"fi", "fi", "sv", "en", "so", ""};
  const char* kKinds[] = {"preschool", "ecec", "school"};
  for (int f = 0; f < families; ++f) {
    const char* muni = kMunicipalities[pick(5)];
    std::vector<int64_t> guardians;
    for (int g = 0, n = 1 + pick(2); g < n; ++g) {
      int32_t birth = today.days - 365 * (22 + pick(60)) - pick(365);
      int32_t death = pick(40) == 0 ? today.days - pick(2000) : kNoDate;
      b.AddPerson({id, birth, death, muni, kLanguages[pick(6)], pick(50) == 0, {}});
      guardians.push_back(id++);
    }
    for (int c = 0, n = pick(4); c < n; ++c) {
      int32_t birth = today.days - pick(365 * 18);
      b.AddPerson({id, pick(200) == 0 ? kNoDate : birth, pick(300) == 0 ? today.days - 10 : kNoDate, muni,
                   kLanguages[pick(6)], false, {}});
      if (pick(30) != 0) {
        for (int64_t g : guardians) b.AddCustody(g, id);
      }
      if (pick(3) == 0) b.AddPlacement(id, kKinds[pick(3)], today.days - pick(900), pick(2) ? kNoDate : today.days + 100);
      ++id;
    }
  }
  return std::move(b).Build();
}

}  // namespace

TEST_CASE("a sweep counts the same with one and two threads as a plain loop", "[eval][sweep]") {
  const Date today = *Date::Parse("2026-11-22");
  Population pop = SmallCity(7, 1500);
  for (const char* dir : {ENNAKKO_SOURCE_ROOT "/rules", ENNAKKO_SOURCE_ROOT "/bench/rules"}) {
    INFO(dir);
    auto rules = LoadRules(dir);
    const size_t rule_count = rules->rules().size();

    // The reference: every rule for every resident, one at a time.
    std::vector<RuleSweepCounts> expected(rule_count);
    Evaluator ev(*rules, pop, today);
    for (size_t r = 0; r < rule_count; ++r) {
      for (PersonIndex p = 0; p < pop.size(); ++p) {
        CompactDecision d;
        if (!ev.EvaluateCompact(r, p, &d)) continue;
        ++expected[r].subjects;
        ++expected[r].by_verdict[static_cast<size_t>(d.verdict)];
      }
    }
    int64_t expected_subjects = 0;
    for (const auto& c : expected) expected_subjects += c.subjects;
    REQUIRE(expected_subjects > 0);

    for (int threads : {1, 2}) {
      for (size_t block : {size_t{7}, size_t{4096}}) {
        INFO("threads " << threads << ", block " << block);
        SweepOptions options;
        options.threads = threads;
        options.block = block;
        SweepResult result = Sweep(*rules, pop, today, options);
        CHECK(result.residents == static_cast<int64_t>(pop.size()));
        CHECK(result.rule_decisions == static_cast<int64_t>(pop.size() * rule_count));
        CHECK(result.subjects == expected_subjects);
        REQUIRE(result.by_rule.size() == rule_count);
        for (size_t r = 0; r < rule_count; ++r) {
          INFO("rule " << rules->rules()[r].spec->service);
          CHECK(result.by_rule[r].subjects == expected[r].subjects);
          CHECK(result.by_rule[r].by_verdict == expected[r].by_verdict);
        }
      }
    }
  }
}

TEST_CASE("a sweep hands every decision to the callback exactly once", "[eval][sweep]") {
  const Date today = *Date::Parse("2026-11-22");
  Population pop = SmallCity(11, 800);
  auto rules = LoadRules(ENNAKKO_SOURCE_ROOT "/bench/rules");
  std::mutex mu;
  std::set<std::pair<size_t, PersonIndex>> seen;
  int64_t calls = 0, eligible = 0;
  DecisionCallback on_decision = [&](size_t rule, PersonIndex p, const CompactDecision& d) {
    std::lock_guard<std::mutex> lock(mu);
    ++calls;
    seen.emplace(rule, p);
    if (d.verdict == Verdict::kEligible) ++eligible;
  };
  SweepResult result = Sweep(*rules, pop, today, 2, &on_decision);
  CHECK(calls == result.subjects);
  CHECK(static_cast<int64_t>(seen.size()) == result.subjects);
  CHECK(eligible == result.verdicts(Verdict::kEligible));
}

TEST_CASE("a sweep reports progress on the calling thread, ending at the total", "[eval][sweep]") {
  const Date today = *Date::Parse("2026-11-22");
  Population pop = SmallCity(3, 300);
  auto rules = LoadRules(ENNAKKO_SOURCE_ROOT "/rules");
  const auto caller = std::this_thread::get_id();
  std::vector<size_t> reported;
  bool on_caller = true;
  SweepOptions options;
  options.threads = 2;
  options.block = 16;
  options.on_progress = [&](size_t done, size_t total) {
    on_caller = on_caller && std::this_thread::get_id() == caller;
    CHECK(total == pop.size());
    reported.push_back(done);
  };
  Sweep(*rules, pop, today, options);
  CHECK(on_caller);
  REQUIRE_FALSE(reported.empty());
  CHECK(reported.back() == pop.size());
  CHECK(std::is_sorted(reported.begin(), reported.end()));
}

TEST_CASE("a sweep over an empty population decides nothing", "[eval][sweep]") {
  Population empty = PopulationBuilder().Build();
  auto rules = LoadRules(ENNAKKO_SOURCE_ROOT "/rules");
  SweepResult result = Sweep(*rules, empty, *Date::Parse("2026-11-22"), 2);
  CHECK(result.residents == 0);
  CHECK(result.subjects == 0);
  CHECK(result.by_rule.size() == rules->rules().size());
}
