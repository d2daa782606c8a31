// Rule sources: a rules directory parsed, validated against the schemas and type-checked.
//
// Layout of a rules directory:
//   params/*.yaml            dated parameters (params.schema.json)
//   <service>/rule.yaml      one service rule (rule.schema.json)
//   <service>/messages.yaml  its message templates per language (messages.schema.json)
// Loading collects every problem of every file into Diagnostics (file:line:col + hint) and
// returns an error if any is an error. A loaded RuleSources is immutable and is compiled by
// engine/eval into an evaluation program.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/base/date.h"
#include "engine/base/status.h"
#include "engine/lang/ast.h"
#include "engine/lang/checker.h"
#include "engine/lang/diagnostics.h"
#include "engine/lang/schedule.h"
#include "engine/lang/yaml_source.h"

namespace ennakko {

struct CheckedExpr {
  std::string text;
  std::unique_ptr<Expr> expr;
  CheckResult check;
  SourceLocation location;
};

struct ParamValue {
  Date from;
  nlohmann::json value;     // a scalar, or for tables an object {"2": 4066, "3": 5245, ...}
  std::string source;       // the legal source of this value
  bool provisional = false; // the source could not confirm the value
  std::optional<nlohmann::json> per_extra;  // tables: added per key above the largest key
};

struct ParamSpec {
  std::string name;
  std::string description;
  Type type;
  std::vector<ParamValue> values;  // sorted by `from`
  std::string file;
  // The value in force on `at`, or nullptr when none is (before the first `from`).
  const ParamValue* InForce(Date at) const;
};

// One language's message. Every message says who sends it, why the resident got it and how to
// object: the three sections are required, and the body must place each with its placeholder
// ({{sender}}, {{reason}}, {{objection}}), so the author decides where they go and the texts
// stay available on their own (reply page, letter).
struct MessageTemplate {
  std::string title;
  std::string body;
  std::string sender;     // who sends it: the city and the service unit
  std::string reason;     // why the resident got it
  std::string objection;  // how to object to such messages
};

// Placeholders a message template may use (the data ones and the three sections).
const std::vector<std::string>& MessagePlaceholders();
// The required sections of a message, each with what it says: {"sender", "who sends it"}, ...
const std::vector<std::pair<std::string, std::string>>& MessageSections();

struct RuleSpec {
  std::string file;
  std::string service;
  int version = 0;
  std::string owner;
  std::string mode;  // offer | recommend | automatic | review
  std::map<std::string, std::string> title;
  std::vector<std::string> data_held;  // "subject.birth_date", ...
  std::vector<int> data_held_max_age;  // per fact: days within which it must have been fetched; 0 = any
  std::string permission_basis;        // public-task | consent
  std::string permission_purpose;      // basis consent: the consent's purpose
  std::string permission_from;         // basis consent: "subject" or "subject.guardians"
  std::string permission_reference;
  std::string obligation_statute;
  std::vector<std::string> legal_references;
  std::string deployment_decision;       // reference (required for mode automatic)
  std::string deployment_decision_date;
  std::optional<Schedule> schedule;      // trigger.schedule: offers are queued at these times
  std::string schedule_text;
  std::vector<std::string> on_change;    // trigger.on_change: "subject.municipality", ...
  CheckedExpr applies_to;
  std::vector<CheckedExpr> eligibility;  // the top-level && clauses of `when`, each explainable
  int resident_minutes_saved = 0;
  int city_eur_saved = 0;
  // offer (mode offer)
  bool has_offer = false;
  CheckedExpr offer_to;
  CheckedExpr period;
  std::vector<std::string> channels;
  int reply_within_days = 0;              // 0: no deadline
  std::vector<int> remind_after_days;
  std::map<std::string, MessageTemplate> messages;  // by language; "fi" always present
};

// A named definition shared by rules (rules/definitions/*.yaml): name(person) -> value.
struct DefinitionSpec {
  std::string name;
  std::string description;
  std::string argument;  // the name its body uses for the person
  Type result;
  CheckedExpr body;
  std::string file;
};

struct RuleSources {
  std::string directory;
  std::map<std::string, ParamSpec> params;
  std::vector<DefinitionSpec> definitions;  // in dependency order: each may call earlier ones
  std::vector<RuleSpec> rules;
  std::string revision;  // SHA-256 over every file's path and content
};

// Loads and checks a rules directory. On any error: diagnostics hold every problem and the result
// is InvalidArgument.
Result<std::shared_ptr<const RuleSources>> LoadRuleSources(const std::string& directory,
                                                           Diagnostics& diags);

// Checks individual rule files (for `ennakko rules check FILE...`): the params/ and messages of
// each file's rules directory are loaded as context.
Status CheckRulePaths(const std::vector<std::string>& paths, Diagnostics& diags);

// Checks one rule given as text, without parameters (for fuzzing and editor integrations): a
// messages file it names is looked up relative to `file`.
Status CheckRuleText(const std::string& text, const std::string& file, Diagnostics& diags);

}  // namespace ennakko
