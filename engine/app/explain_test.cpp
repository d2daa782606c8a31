#include "engine/app/explain.h"

#include <catch2/catch.hpp>
#include <sstream>

#include "engine/app/tools_test_util.h"
#include "engine/base/hetu.h"
#include "engine/lang/rule.h"
#include "engine/store/migrations.h"

using namespace ennakko;
using namespace ennakko::tools_testing;
using nlohmann::json;

namespace {

constexpr const char* kKey = "explain-test-key-explain-test-key";

// A store with a child of the 2020 cohort, a living guardian and a dead one, with provenance.
struct Store {
  TempDir tmp;
  std::unique_ptr<Db> db;
  Pseudonymizer pseudonyms{kKey};
  std::shared_ptr<const RuleSet> rules;
  std::string child = MakeHetu(Date::FromYmd(2020, 5, 5), 904);
  std::string mother = MakeHetu(Date::FromYmd(1990, 1, 1), 902);
  std::string father = MakeHetu(Date::FromYmd(1985, 2, 3), 903);
  int64_t child_id = 0, mother_id = 0, father_id = 0;

  Store() {
    db = OpenStore({.path = tmp.File("store.db")}).value();
    // Rows as the population store writes them: a facts row per value held.
    auto resident = db->Prepare(
        "INSERT INTO residents (hetu, birth_date, death_date, municipality, language, updated_at) "
        "VALUES (?, ?, ?, '091', 'fi', 'x') RETURNING id");
    auto fact = db->Prepare(
        "INSERT INTO facts (resident_id, name, source, change_id, fetched_at) VALUES (?, ?, "
        "'population-filedrop', ?, '2026-11-20T06:00:00.000Z')");
    auto add = [&](const std::string& code, const char* birth, std::optional<std::string> death) {
      resident->Bind(1, code).Bind(2, birth).Bind(3, death);
      REQUIRE(resident->Step().value());
      int64_t id = resident->Int(0);
      resident->Reset();
      for (const char* name : {"birth_date", "municipality", "language", "death_date"}) {
        if (std::string(name) == "death_date" && !death) continue;
        fact->Bind(1, id).Bind(2, name).Bind(3, "000000.snapshot.jsonl:7");
        REQUIRE(fact->Run().ok());
        fact->Reset();
      }
      return id;
    };
    child_id = add(child, "2020-05-05", std::nullopt);
    mother_id = add(mother, "1990-01-01", std::nullopt);
    father_id = add(father, "1985-02-03", "2025-01-01");
    auto custody = db->Prepare("INSERT INTO custody (guardian_id, ward_id) VALUES (?, ?)");
    for (int64_t g : {mother_id, father_id}) {
      custody->Bind(1, g).Bind(2, child_id);
      REQUIRE(custody->Run().ok());
      custody->Reset();
    }
    fact->Bind(1, child_id).Bind(2, "guardians").Bind(3, "000001.changes.jsonl:3");
    REQUIRE(fact->Run().ok());
    Diagnostics diags;
    rules = RuleSet::Compile(LoadRuleSources(ENNAKKO_SOURCE_ROOT "/rules", diags).value()).value();
  }
};

const json* Fact(const json& j, const std::string& name) {
  for (const auto& f : j["facts"]) {
    if (f["fact"] == name) return &f;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("explain finds a subject by identity code or pseudonym", "[explain]") {
  Store s;
  CHECK(FindSubject(*s.db, s.pseudonyms, s.child).value() == s.child_id);
  CHECK(FindSubject(*s.db, s.pseudonyms, s.pseudonyms.Of(s.mother)).value() == s.mother_id);
  CHECK(FindSubject(*s.db, s.pseudonyms, "p-000000000000000000000000").status().code() == StatusCode::kNotFound);
  CHECK(FindSubject(*s.db, s.pseudonyms, MakeHetu(Date::FromYmd(2001, 1, 1), 990)).status().code() ==
        StatusCode::kNotFound);
  auto garbage = FindSubject(*s.db, s.pseudonyms, "not-a-code");
  CHECK(garbage.status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("explain shows conditions, recipients as pseudonyms, facts with provenance, parameters", "[explain]") {
  Store s;
  auto j = ExplainDecision(*s.db, *s.rules, s.pseudonyms, "preschool-offer", s.child_id, *Date::Parse("2026-11-22"));
  REQUIRE(j.ok());
  INFO(j->dump(2));
  CHECK((*j)["subject"] == s.pseudonyms.Of(s.child));
  CHECK((*j)["applies"] == true);
  CHECK((*j)["verdict"] == "eligible");
  CHECK((*j)["period"] == "2026");
  CHECK((*j)["conditions"]["eligibility"] == "yes");
  CHECK((*j)["recipients"] == json::array({s.pseudonyms.Of(s.mother)}));  // the dead father receives nothing
  CHECK((*j)["revision"] == s.rules->revision());

  const json* birth = Fact(*j, "subject.birth_date");
  REQUIRE(birth);
  CHECK((*birth)["value"] == "2020-05-05");
  CHECK((*birth)["provenance"]["source"] == "population-filedrop");
  CHECK((*birth)["provenance"]["change_id"] == "000000.snapshot.jsonl:7");
  const json* guardians = Fact(*j, "subject.guardians");
  REQUIRE(guardians);
  CHECK((*guardians)["value"].size() == 2);
  CHECK((*guardians)["provenance"]["change_id"] == "000001.changes.jsonl:3");
  REQUIRE(Fact(*j, "subject.alive"));
  CHECK((*Fact(*j, "subject.alive"))["value"] == true);

  bool city_code = false;
  for (const auto& p : (*j)["parameters"]) {
    if (p["name"] == "city_code") city_code = p["value"] == "091" && !p["source"].get<std::string>().empty();
  }
  CHECK(city_code);
  // Only the parameters the rule reads (directly or through definitions), not every one in force.
  for (const auto& p : (*j)["parameters"]) CHECK((p["name"] == "city_code" || p["name"] == "preschool_age"));
  CHECK((*j)["stored_decision"].is_null());

  // No identity code anywhere in what explain prints: residents appear as pseudonyms.
  std::string text = RenderExplanation(*j) + j->dump();
  for (const auto& code : {s.child, s.mother, s.father}) CHECK(text.find(code) == std::string::npos);
  CHECK(text.find("preschool-offer for " + s.pseudonyms.Of(s.child) + " on 2026-11-22") != std::string::npos);
}

TEST_CASE("explain compares with the stored decision", "[explain]") {
  Store s;
  auto st = s.db->Prepare(
      "INSERT INTO decisions (service, subject_id, period, verdict, data_held, permission, obligation, eligibility, "
      "benefit, reasons, ruleset, decided_at) VALUES ('preschool-offer', ?, '2026', 'undetermined', 'no', 'yes', "
      "'yes', "
      "'undetermined', 'yes', '[\"data_held: subject.municipality is not held\"]', 'old-revision', "
      "'2026-11-01T00:00:00Z')");
  st->Bind(1, s.child_id);
  REQUIRE(st->Run().ok());
  auto j = ExplainDecision(*s.db, *s.rules, s.pseudonyms, "preschool-offer", s.child_id, *Date::Parse("2026-11-22"));
  REQUIRE(j.ok());
  CHECK((*j)["stored_decision"]["verdict"] == "undetermined");
  std::string diffs = (*j)["differences"].dump();
  INFO(diffs);
  CHECK(diffs.find("verdict: now \\\"eligible\\\", stored \\\"undetermined\\\"") != std::string::npos);
  CHECK(diffs.find("ruleset") == std::string::npos);  // an older revision alone is no difference
  CHECK(RenderExplanation(*j).find("  differs: verdict") != std::string::npos);
}

TEST_CASE("explain outside applies_to, and an unknown service", "[explain]") {
  Store s;
  auto j = ExplainDecision(*s.db, *s.rules, s.pseudonyms, "preschool-offer", s.mother_id, *Date::Parse("2026-11-22"));
  REQUIRE(j.ok());
  CHECK((*j)["applies"] == false);
  CHECK_FALSE(j->contains("verdict"));
  CHECK(RenderExplanation(*j).find("outside the rule's applies_to") != std::string::npos);
  auto unknown = ExplainDecision(*s.db, *s.rules, s.pseudonyms, "no-such", s.child_id, *Date::Parse("2026-11-22"));
  CHECK(unknown.status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("the explain command: exit codes 0, 1 and 2", "[explain]") {
  Store s;
  std::string config = s.tmp.File("ennakko.yaml");
  WriteFile(config,
            std::string("store: {path: store.db}\naudit: {path: audit.jsonl, pseudonym_key: \"") + kKey +
                "\"}\nrules: {directory: \"" + ENNAKKO_SOURCE_ROOT "/rules" +
                "\"}\npopulation: {kind: file-drop, directory: population}\nchannels: {file: {directory: offers}}\n");
  auto run = [&](ExplainOptions o, std::string* output = nullptr) {
    o.config_path = config;
    std::ostringstream out, err;
    int rc = RunExplain(o, out, err);
    if (output) *output = out.str() + err.str();
    return rc;
  };
  std::string output;
  CHECK(run({.service = "preschool-offer", .subject = s.pseudonyms.Of(s.child), .at = "2026-11-22", .json = true},
            &output) == 0);
  CHECK(json::parse(output)["verdict"] == "eligible");
  CHECK(
      run({.service = "preschool-offer", .subject = "p-000000000000000000000000", .at = "2026-11-22", .json = false}) ==
      1);
  CHECK(run({.service = "preschool-offer", .subject = s.child, .at = "2026-99-01", .json = false}) == 2);
  CHECK(run({.service = "no-such", .subject = s.child, .at = {}, .json = false}) == 2);
  ExplainOptions missing;
  missing.service = "preschool-offer";
  missing.subject = s.child;
  missing.config_path = s.tmp.File("missing.yaml");
  std::ostringstream out, err;
  CHECK(RunExplain(missing, out, err) == 2);
  // Read-only: no audit log was created and the store still has no decisions.
  CHECK_FALSE(std::filesystem::exists(s.tmp.File("audit.jsonl")));
}
