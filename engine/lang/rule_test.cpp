#include "engine/lang/rule.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

using namespace ennakko;

TEST_CASE("the shipped rules load and check cleanly", "[rules]") {
  Diagnostics diags;
  auto rules = LoadRuleSources(ENNAKKO_SOURCE_ROOT "/rules", diags);
  INFO(diags.ToString());
  REQUIRE(rules.ok());
  CHECK_FALSE(diags.has_errors());
  REQUIRE((*rules)->rules.size() >= 1);
  auto preschool = std::find_if((*rules)->rules.begin(), (*rules)->rules.end(),
                                [](const RuleSpec& x) { return x.service == "preschool-offer"; });
  REQUIRE(preschool != (*rules)->rules.end());
  const RuleSpec& r = *preschool;
  CHECK(r.service == "preschool-offer");
  CHECK(r.eligibility.size() == 3);
  CHECK(r.eligibility[1].text == "subject.municipality == params.city_code");
  CHECK(r.messages.count("fi") == 1);
  CHECK((*rules)->revision.size() == 16);
  CHECK((*rules)->params.at("city_code").InForce(*Date::Parse("2026-01-01"))->value == "091");
  CHECK((*rules)->params.at("city_code").InForce(*Date::Parse("2019-01-01")) == nullptr);
}

TEST_CASE("a rule file with several errors reports each with file:line:col", "[rules]") {
  Diagnostics diags;
  auto rules = LoadRuleSources(ENNAKKO_SOURCE_ROOT "/tests/data/rules-broken", diags);
  REQUIRE_FALSE(rules.ok());
  std::string out = diags.ToString();
  INFO(out);
  std::string f = ENNAKKO_SOURCE_ROOT "/tests/data/rules-broken/broken-offer/rule.yaml";
  std::string m = ENNAKKO_SOURCE_ROOT "/tests/data/rules-broken/broken-offer/messages.yaml";
  // A schema error (the unknown key, at the key) does not hide the other problems: one run
  // reports them all, each at the exact token.
  CHECK(out.find(f + ":7:1: error: unknown key 'colour'") != std::string::npos);
  CHECK(out.find(f + ":16:40: error: '==' cannot compare or combine int with string") != std::string::npos);
  CHECK(out.find(f + ":18:36: error: unknown parameter 'city_cod'") != std::string::npos);
  CHECK(out.find(f + ":19:16: error: unknown field 'placments' on person") != std::string::npos);
  CHECK(out.find(f + ":20:8: error: 'age_at' takes 2 arguments, not 1") != std::string::npos);
  CHECK(out.find(f + ":9:10: error: the rule reads subject.guardians but does not declare it") != std::string::npos);
  CHECK(out.find(m + ":3:14: error: unknown placeholder {{child_name}}") != std::string::npos);
  // Every message says who sends it, why and how to object: a section missing, a section not
  // placed in the body.
  CHECK(out.find(m + ":2:3: error: the fi message does not say how to object: no 'objection' section") != std::string::npos);
  CHECK(out.find(m + ":3:9: error: the fi body does not say why the resident got it: {{reason}} is missing") != std::string::npos);
  CHECK(diags.error_count() == 9);
}

TEST_CASE("a rule file that is not a mapping, or has wrong types, is reported, not crashed on", "[rules]") {
  Diagnostics diags;
  auto doc = ParseYaml("- just\n- a list\n", "x.yaml", diags);
  REQUIRE(doc.ok());
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / "ennakko-rules-types";
  fs::remove_all(dir);
  fs::create_directories(dir / "r");
  std::ofstream(dir / "r/rule.yaml") << "service: 12\ntitle: x\ndata_held: {facts: 3}\neligibility: {applies_to: [1], when: true}\noffer: 5\n";
  Diagnostics d2;
  auto rules = LoadRuleSources(dir.string(), d2);
  CHECK_FALSE(rules.ok());
  CHECK(d2.error_count() >= 5);
}

TEST_CASE("list parameters: a non-empty sequence of value_type values", "[rules]") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / "ennakko-rules-lists";
  fs::remove_all(dir);
  fs::create_directories(dir / "params");
  std::ofstream(dir / "params/p.yaml")
      << "codes:\n  description: d\n  type: list\n  values:\n"
         "    - {from: \"2020-01-01\", value: [\"201\", \"202\"], source: s}\n"
         "    - {from: \"2021-01-01\", value: [], source: s}\n"
         "    - {from: \"2022-01-01\", value: [\"201\", 7], source: s}\n"
         "    - {from: \"2023-01-01\", value: \"201\", source: s}\n"
         "    - {from: \"2024-01-01\", value: [\"201\"], per_extra: 1, source: s}\n";
  Diagnostics diags;
  auto rules = LoadRuleSources(dir.string(), diags);
  std::string out = diags.ToString();
  INFO(out);
  CHECK_FALSE(rules.ok());
  CHECK(out.find("p.yaml:6:") != std::string::npos);  // the empty list
  CHECK(out.find("a list value is a non-empty sequence of string values") != std::string::npos);
  CHECK(out.find("list item must be a string") != std::string::npos);
  CHECK(out.find("per_extra is only for tables") != std::string::npos);
  CHECK(diags.error_count() == 4);
}

TEST_CASE("YAML syntax errors carry line and column", "[rules]") {
  Diagnostics diags;
  auto doc = ParseYaml("a: [1, 2\nb: c\n", "x.yaml", diags);
  CHECK_FALSE(doc.ok());
  REQUIRE(diags.items().size() == 1);
  CHECK(diags.items()[0].location.line >= 1);
  CHECK(diags.items()[0].message.find("YAML syntax error") == 0);
}

TEST_CASE("an entry listed twice is one error at the repeat, and a long list of repeats is fast", "[rules]") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / "ennakko-rules-repeats";
  fs::remove_all(dir);
  fs::copy(ENNAKKO_SOURCE_ROOT "/rules", dir, fs::copy_options::recursive);
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory() && entry.path().filename() != "preschool-offer" && entry.path().filename() != "params" &&
        entry.path().filename() != "definitions") {
      fs::remove_all(entry.path());
    }
  }
  const fs::path rule = dir / "preschool-offer/rule.yaml";
  std::ifstream in(rule);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto replace = [&](const std::string& from, const std::string& to) {
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
  };
  replace("facts: [subject.birth_date, subject.alive,", "facts: [subject.birth_date, subject.alive, subject.alive,");
  replace("channels: [suomifi, sms, email, file]", "channels: [suomifi, sms, email, sms, file]");
  std::ofstream(rule, std::ios::trunc) << text;
  Diagnostics diags;
  CHECK_FALSE(LoadRuleSources(dir.string(), diags).ok());
  std::string out = diags.ToString();
  INFO(out);
  CHECK(out.find("rule.yaml:21:46: error: 'subject.alive' is listed twice (also item 2 of /data_held/facts)") !=
        std::string::npos);
  CHECK(out.find("'sms' is listed twice (also item 2 of /offer/channels)") != std::string::npos);
  CHECK(diags.error_count() == 2);

  // Thousands of repeats (the schema's uniqueItems made valijson record an error per equal pair:
  // minutes and gigabytes). Now one error each, quickly.
  std::string many = "facts: [subject.birth_date, subject.alive";
  for (int i = 0; i < 3000; ++i) many += ", subject.guardians";
  replace("facts: [subject.birth_date, subject.alive, subject.alive", many);
  std::ofstream(rule, std::ios::trunc) << text;
  Diagnostics lots;
  auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(LoadRuleSources(dir.string(), lots).ok());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  CHECK(lots.error_count() >= 2999);
  fs::remove_all(dir);
}
