#include "engine/app/rule_tests.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <ostream>
#include <set>

#include "engine/eval/evaluator.h"
#include "engine/lang/rule.h"

namespace fs = std::filesystem;

namespace ennakko {

namespace {

using nlohmann::json;

const char* const kVerdicts[] = {"eligible", "not_eligible", "undetermined", "excluded"};
const char* const kTris[] = {"yes", "no", "undetermined"};

class CaseParser {
 public:
  CaseParser(const YamlDocument& doc, Diagnostics& diags) : doc_(doc), diags_(diags) {}

  std::optional<RuleTestCase> Parse(const std::string& ptr, const std::string& default_service) {
    int before = diags_.error_count();
    const json& c = doc_.json().at(json::json_pointer(ptr));
    if (!c.is_object()) {
      Fail(ptr, "a test case is a mapping with name, at, residents, subject and expect");
      return std::nullopt;
    }
    Keys(ptr, {"name", "at", "residents", "subject", "service", "expect"}, "a test case");
    RuleTestCase out;
    out.location = doc_.At(ptr);
    out.service = default_service;
    String(ptr, "name", true, &out.name);
    std::string at;
    if (String(ptr, "at", true, &at)) {
      auto d = Date::Parse(at);
      if (d)
        out.at = *d;
      else
        Fail(ptr + "/at", "at must be the evaluation date YYYY-MM-DD, got \"" + at + "\"");
    }
    String(ptr, "service", false, &out.service);
    String(ptr, "subject", true, &out.subject);
    // Every problem of the case in one run: residents and expect are checked even when the keys
    // above have errors (a bad `at` only shifts which custody is in force, and nothing runs).
    if (!c.contains("residents"))
      Fail(ptr, "missing `residents`: the people of this case by local name");
    else if (auto pop = BuildTestPopulation(doc_, ptr + "/residents", out.at, diags_); pop.ok())
      out.residents = std::move(*pop);
    if (c.contains("residents") && c["residents"].is_object() && !out.subject.empty() &&
        !c["residents"].contains(out.subject)) {
      Fail(ptr + "/subject", "subject '" + out.subject + "' is not one of this case's residents");
    }
    if (!c.contains("expect"))
      Fail(ptr, "missing `expect`: what the rule must decide");
    else
      ParseExpect(ptr + "/expect", out);
    if (diags_.error_count() > before) return std::nullopt;
    return out;
  }

 private:
  void ParseExpect(const std::string& ptr, RuleTestCase& out) {
    const json& e = doc_.json().at(json::json_pointer(ptr));
    if (!e.is_object()) {
      Fail(ptr, "expect must be a mapping", "e.g. expect: {verdict: eligible, recipients: [mother]}");
      return;
    }
    Keys(ptr, {"applies", "verdict", "conditions", "recipients", "reasons_contain", "period"}, "expect");
    RuleTestExpectation& x = out.expect;
    if (e.contains("applies")) {
      if (e["applies"].is_boolean())
        x.applies = e["applies"].get<bool>();
      else
        Fail(ptr + "/applies", "applies must be true or false");
    }
    std::string verdict;
    if (String(ptr, "verdict", false, &verdict)) {
      if (std::find(std::begin(kVerdicts), std::end(kVerdicts), verdict) == std::end(kVerdicts)) {
        Fail(ptr + "/verdict", "unknown verdict '" + verdict + "'",
             "one of: eligible, not_eligible, undetermined, excluded");
      }
      x.verdict = verdict;
    }
    if (e.contains("conditions")) {
      const json& cs = e["conditions"];
      if (!cs.is_object()) Fail(ptr + "/conditions", "conditions must be a mapping, e.g. {eligibility: no}");
      static const json kNone = json::object();
      for (const auto& [name, value] : (cs.is_object() ? cs : kNone).items()) {
        std::string vptr = ptr + "/conditions/" + JsonPointerEscape(name);
        bool known = false;
        for (int k = 0; k < kConditionCount; ++k) known = known || name == ConditionName(static_cast<Condition>(k));
        if (!known) {
          Fail(vptr + "#key", "unknown condition '" + name + "'",
               "one of: data_held, permission, obligation, eligibility, benefit");
          continue;
        }
        // YAML reads a plain yes/no as a string; true/false are accepted as yes/no.
        std::string v = value.is_boolean()  ? (value.get<bool>() ? "yes" : "no")
                        : value.is_string() ? value.get<std::string>()
                                            : "";
        if (std::find(std::begin(kTris), std::end(kTris), v) == std::end(kTris)) {
          Fail(vptr, "condition " + name + " must be yes, no or undetermined, got " + value.dump());
          continue;
        }
        x.conditions.emplace_back(name, v);
      }
    }
    if (e.contains("recipients")) {
      x.recipients.emplace();
      if (!StringList(ptr + "/recipients", &*x.recipients)) return;
      const json* people = ResidentsOf(ptr);
      for (size_t i = 0; i < x.recipients->size(); ++i) {
        if (people && !people->contains((*x.recipients)[i])) {
          Fail(ptr + "/recipients/" + std::to_string(i),
               "recipient '" + (*x.recipients)[i] + "' is not one of this case's residents");
        }
      }
    }
    if (e.contains("reasons_contain")) StringList(ptr + "/reasons_contain", &x.reasons_contain);
    if (e.contains("period")) {
      const json& p = e["period"];
      if (p.is_string())
        x.period = p.get<std::string>();
      else if (p.is_number_integer())
        x.period = std::to_string(p.get<int64_t>());
      else
        Fail(ptr + "/period", "period must be a string or a year");
    }
    bool anything = x.verdict || !x.conditions.empty() || x.recipients || !x.reasons_contain.empty() || x.period;
    if (!x.applies && anything) {
      Fail(ptr, "a case with `applies: false` expects no decision",
           "remove verdict, conditions, recipients, reasons and period");
    } else if (x.applies && !anything) {
      Fail(ptr, "expect says nothing to check", "give at least a verdict, or `applies: false`");
    }
  }

  // The residents mapping of the case whose `expect` is at `expect_ptr`, or null.
  const json* ResidentsOf(const std::string& expect_ptr) const {
    const json& c = doc_.json().at(json::json_pointer(expect_ptr.substr(0, expect_ptr.rfind('/'))));
    return c.contains("residents") && c["residents"].is_object() ? &c["residents"] : nullptr;
  }

  bool StringList(const std::string& ptr, std::vector<std::string>* out) {
    const json& v = doc_.json().at(json::json_pointer(ptr));
    if (v.is_string()) {
      out->push_back(v.get<std::string>());
      return true;
    }
    if (!v.is_array()) return Fail(ptr, "expected a list of strings");
    bool ok = true;
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i].is_string())
        out->push_back(v[i].get<std::string>());
      else
        ok = Fail(ptr + "/" + std::to_string(i), "expected a string, got " + v[i].dump());
    }
    return ok;
  }

  // Reads the string at ptr/key; false when absent (an error if required) or not a string.
  bool String(const std::string& ptr, const char* key, bool required, std::string* out) {
    const json& obj = doc_.json().at(json::json_pointer(ptr));
    if (!obj.contains(key)) {
      if (required) Fail(ptr, fmt::format("missing `{}`", key));
      return false;
    }
    const json& v = obj[key];
    if (!v.is_string() || v.get<std::string>().empty()) {
      return Fail(ptr + "/" + key, fmt::format("{} must be a non-empty string, got {}", key, v.dump()),
                  std::string(key) == "at" ? "dates are written YYYY-MM-DD" : "");
    }
    *out = v.get<std::string>();
    return true;
  }

  void Keys(const std::string& ptr, std::initializer_list<const char*> allowed, const char* what) {
    std::string list;
    for (const char* k : allowed) list += (list.empty() ? "" : ", ") + std::string(k);
    for (const auto& [key, _] : doc_.json().at(json::json_pointer(ptr)).items()) {
      if (std::none_of(allowed.begin(), allowed.end(), [&](const char* k) { return key == k; })) {
        Fail(ptr + "/" + JsonPointerEscape(key) + "#key", fmt::format("unknown key '{}' in {}", key, what),
             "allowed: " + list);
      }
    }
  }

  bool Fail(const std::string& ptr, const std::string& message, const std::string& hint = {}) {
    diags_.Error(doc_.At(ptr), message, hint);
    return false;
  }

  const YamlDocument& doc_;
  Diagnostics& diags_;
};

std::string NameList(const TestPopulation& pop, std::vector<PersonIndex> people) {
  std::vector<std::string> names;
  for (PersonIndex p : people) names.push_back(pop.name_of[p]);
  std::sort(names.begin(), names.end());
  return "[" + fmt::format("{}", fmt::join(names, ", ")) + "]";
}

std::string SortedList(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  return "[" + fmt::format("{}", fmt::join(names, ", ")) + "]";
}

}  // namespace

Result<RuleTestFile> ParseRuleTestFile(const std::string& path, const std::string& default_service,
                                       Diagnostics& diags) {
  int before = diags.error_count();
  auto doc = LoadYamlFile(path, diags);
  if (!doc.ok()) return Status::Invalid("unreadable test file " + path);
  RuleTestFile file;
  file.path = path;
  const json& root = doc->json();
  if (!root.is_array() || root.empty()) {
    diags.Error(doc->At(""), "a rule test file is a list of test cases",
                "start each case with `- name: ...`; see docs/rule-testing.md");
    return Status::Invalid("malformed test file " + path);
  }
  CaseParser parser(*doc, diags);
  for (size_t i = 0; i < root.size(); ++i) {
    if (auto c = parser.Parse("/" + std::to_string(i), default_service)) file.cases.push_back(std::move(*c));
  }
  if (diags.error_count() > before) return Status::Invalid("malformed test file " + path);
  return file;
}

std::vector<RuleTestDiff> RunRuleTestCase(const RuleSet& rules, const RuleTestCase& c) {
  std::vector<RuleTestDiff> diffs;
  std::optional<size_t> rule;
  std::vector<std::string> services;
  for (size_t r = 0; r < rules.rules().size(); ++r) {
    services.push_back(rules.rules()[r].spec->service);
    if (rules.rules()[r].spec->service == c.service) rule = r;
  }
  if (!rule) {
    diffs.push_back({"service", c.service, "no such service; the rules have " + SortedList(services)});
    return diffs;
  }
  const TestPopulation& pop = c.residents;
  Evaluator ev(rules, pop.population, c.at);
  Decision d;
  bool applies = ev.Evaluate(*rule, pop.index_of.at(c.subject), &d);
  if (applies != c.expect.applies) {
    diffs.push_back({"applies", c.expect.applies ? "true" : "false",
                     applies ? fmt::format("true (verdict {})", VerdictName(d.verdict))
                             : "false (the subject is outside applies_to)"});
    return diffs;
  }
  if (!applies) return diffs;
  if (c.expect.verdict && *c.expect.verdict != VerdictName(d.verdict)) {
    diffs.push_back({"verdict", *c.expect.verdict, VerdictName(d.verdict)});
  }
  for (const auto& [name, want] : c.expect.conditions) {
    for (int k = 0; k < kConditionCount; ++k) {
      const char* got = TriName(d.conditions[static_cast<size_t>(k)]);
      if (name == ConditionName(static_cast<Condition>(k)) && want != got) {
        diffs.push_back({"conditions." + name, want, got});
      }
    }
  }
  if (c.expect.recipients) {
    std::string want = SortedList(*c.expect.recipients), got = NameList(pop, d.recipients);
    if (want != got) diffs.push_back({"recipients", want, got});
  }
  for (const auto& part : c.expect.reasons_contain) {
    bool found = std::any_of(d.reasons.begin(), d.reasons.end(),
                             [&](const std::string& r) { return r.find(part) != std::string::npos; });
    if (!found) diffs.push_back({"reasons", "one containing \"" + part + "\"", json(d.reasons).dump()});
  }
  if (c.expect.period && *c.expect.period != d.period) diffs.push_back({"period", *c.expect.period, d.period});
  return diffs;
}

namespace {

// A test file with the rules directory it runs against.
struct TestTarget {
  std::string file;
  std::string service_dir;
  std::string rules_dir;
  bool operator<(const TestTarget& o) const { return file < o.file; }
};

bool IsYaml(const fs::path& p) { return p.extension() == ".yaml" || p.extension() == ".yml"; }

void AddServiceTests(const fs::path& service_dir, std::set<TestTarget>& out) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(service_dir / "tests", ec)) {
    if (e.is_regular_file() && IsYaml(e.path())) {
      out.insert({e.path().string(), service_dir.string(), service_dir.parent_path().string()});
    }
  }
}

// Resolves the command's paths into test files; false (with a message) when a path is unusable.
bool FindTests(const std::vector<std::string>& paths, std::set<TestTarget>& out, std::ostream& msg) {
  bool ok = true;
  for (const auto& raw : paths) {
    fs::path p = fs::path(raw).lexically_normal();
    if (p.has_filename() == false) p = p.parent_path();
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) {
      fs::path service = p.parent_path().filename() == "tests" ? p.parent_path().parent_path() : p.parent_path();
      out.insert({p.string(), service.string(), service.parent_path().string()});
    } else if (fs::is_directory(p, ec) && fs::exists(p / "rule.yaml")) {
      AddServiceTests(p, out);
    } else if (fs::is_directory(p, ec)) {
      std::vector<fs::path> services;
      for (const auto& e : fs::directory_iterator(p, ec)) {
        if (e.is_directory() && fs::exists(e.path() / "rule.yaml")) services.push_back(e.path());
      }
      std::sort(services.begin(), services.end());
      for (const auto& s : services) {
        size_t before = out.size();
        AddServiceTests(s, out);
        if (out.size() == before)
          msg << "note: " << s.string() << " has no tests (" << (s / "tests").string() << "/*.yaml)\n";
      }
    } else {
      msg << raw << ": error: no such file or directory\n";
      ok = false;
    }
  }
  return ok;
}

struct LoadedRules {
  std::shared_ptr<const RuleSet> rules;  // null when the directory has errors
  std::string problems;
};

// The service of the rule in `service_dir`, or the folder's name.
std::string ServiceOf(const LoadedRules& loaded, const std::string& service_dir) {
  std::error_code ec;
  fs::path dir = fs::weakly_canonical(service_dir, ec);
  if (loaded.rules) {
    for (const auto& r : loaded.rules->rules()) {
      if (fs::weakly_canonical(fs::path(r.spec->file).parent_path(), ec) == dir) return r.spec->service;
    }
  }
  return fs::path(service_dir).filename().string();
}

void PrintFailure(std::ostream& out, const RuleTestCase& c, const std::vector<RuleTestDiff>& diffs) {
  out << c.location.file << ":" << c.location.line << ": FAIL " << c.name << "\n";
  for (const auto& d : diffs) {
    out << "    - " << d.field << ": " << d.expected << "\n";
    out << "    + " << d.field << ": " << d.actual << "\n";
  }
}

}  // namespace

RuleTestSummary RunRuleTests(const RuleTestOptions& options, std::ostream& out) {
  RuleTestSummary summary;
  std::set<TestTarget> targets;
  if (!FindTests(options.paths.empty() ? std::vector<std::string>{"rules"} : options.paths, targets, out)) {
    summary.malformed = true;
  }
  std::map<std::string, LoadedRules> cache;
  for (const auto& t : targets) {
    auto [it, fresh] = cache.try_emplace(t.rules_dir);
    LoadedRules& loaded = it->second;
    if (fresh) {
      Diagnostics diags;
      auto sources = LoadRuleSources(t.rules_dir, diags);
      if (sources.ok()) {
        auto compiled = RuleSet::Compile(*sources);
        if (compiled.ok())
          loaded.rules = *compiled;
        else
          loaded.problems = compiled.status().message() + "\n";
      } else {
        loaded.problems = diags.ToString();
      }
      if (!loaded.rules) out << t.rules_dir << ": the rules do not load, so no case can pass:\n" << loaded.problems;
    }
    Diagnostics diags;
    auto file = ParseRuleTestFile(t.file, ServiceOf(loaded, t.service_dir), diags);
    if (!file.ok()) {
      out << diags.ToString();
      summary.malformed = true;
      continue;
    }
    for (const auto& c : file->cases) {
      std::vector<RuleTestDiff> diffs =
          loaded.rules ? RunRuleTestCase(*loaded.rules, c)
                       : std::vector<RuleTestDiff>{{"rules", "load without errors", "errors in " + t.rules_dir}};
      if (diffs.empty()) {
        ++summary.passed;
        if (options.verbose) out << c.location.file << ":" << c.location.line << ": ok " << c.name << "\n";
      } else {
        ++summary.failed;
        PrintFailure(out, c, diffs);
      }
    }
  }
  out << summary.passed << " passed, " << summary.failed << " failed\n";
  return summary;
}

}  // namespace ennakko
