#include "engine/lang/rule.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "engine/base/crypto.h"
#include "engine/lang/json_schema.h"
#include "engine/lang/parser.h"
#include "schemas/embedded_schemas.h"

namespace fs = std::filesystem;

namespace ennakko {

const std::vector<std::string>& MessagePlaceholders() {
  // reply_link: the signed one-click reply URL (empty in SMS); reminder: "Muistutus: " etc. in a
  // reminder, empty in the offer itself (engine/app/replies_service.cc).
  static const std::vector<std::string> kNames = {"child_first_name", "period", "service_title",
                                                  "reply_code", "reply_link", "reminder",
                                                  "sender", "reason", "objection"};
  return kNames;
}

const std::vector<std::pair<std::string, std::string>>& MessageSections() {
  static const std::vector<std::pair<std::string, std::string>> kSections = {
      {"sender", "who sends it"}, {"reason", "why the resident got it"}, {"objection", "how to object"}};
  return kSections;
}

const ParamValue* ParamSpec::InForce(Date at) const {
  const ParamValue* found = nullptr;
  for (const auto& v : values) {
    if (v.from <= at) found = &v;
  }
  return found;
}

namespace {

const SchemaValidator& Schema(const char* name) {
  // Built once; the embedded schemas are part of the binary and known to be valid (tested).
  static std::map<std::string, std::unique_ptr<SchemaValidator>> cache;
  static std::mutex mu;
  std::lock_guard lock(mu);
  auto& v = cache[name];
  if (!v) v = std::move(SchemaValidator::FromJson(nlohmann::json::parse(EmbeddedSchema(name))).value());
  return *v;
}

TypeKind ParamType(const std::string& t) {
  if (t == "int") return TypeKind::kInt;
  if (t == "decimal") return TypeKind::kDecimal;
  if (t == "bool") return TypeKind::kBool;
  if (t == "date") return TypeKind::kDate;
  return TypeKind::kString;
}

bool ValueHasType(const nlohmann::json& v, TypeKind k) {
  switch (k) {
    case TypeKind::kInt: return v.is_number_integer();
    case TypeKind::kDecimal: return v.is_number();
    case TypeKind::kBool: return v.is_boolean();
    case TypeKind::kString: return v.is_string();
    case TypeKind::kDate: return v.is_string() && Date::Parse(v.get<std::string>()).has_value();
    default: return false;
  }
}

void LoadParamFile(const std::string& path, std::map<std::string, ParamSpec>& out, Diagnostics& diags) {
  auto doc = LoadYamlFile(path, diags);
  if (!doc.ok()) return;
  if (!Schema("params").Validate(*doc, diags)) return;
  for (const auto& [name, spec] : doc->json().items()) {
    std::string ptr = "/" + JsonPointerEscape(name);
    if (out.count(name)) {
      diags.Error(doc->At(ptr + "#key"), "parameter '" + name + "' is declared twice",
                  "it is also declared in " + out[name].file);
      continue;
    }
    ParamSpec p;
    p.name = name;
    p.file = path;
    p.description = spec["description"].get<std::string>();
    std::string type = spec["type"].get<std::string>();
    bool table = type == "table";
    bool list = type == "list";
    if (table) {
      p.type = {TypeKind::kTable, ParamType(spec.value("value_type", "decimal"))};
      if (p.type.elem != TypeKind::kInt && p.type.elem != TypeKind::kDecimal) {
        diags.Error(doc->At(ptr + "/value_type"), "a table's value_type is int or decimal");
        continue;
      }
    } else if (list) {
      p.type = Type::ListOf(ParamType(spec.value("value_type", "string")));
    } else {
      p.type = Type::Of(ParamType(type));
    }
    size_t i = 0;
    for (const auto& v : spec["values"]) {
      std::string vptr = fmt::format("{}/values/{}", ptr, i++);
      auto from = Date::Parse(v["from"].get<std::string>());
      if (!from) {
        diags.Error(doc->At(vptr + "/from"), "'from' is not a valid date");
        continue;
      }
      TypeKind elem = table || list ? p.type.elem : p.type.kind;
      bool ok = true;
      if (list) {
        if (!v["value"].is_array() || v["value"].empty()) {
          diags.Error(doc->At(vptr + "/value"), "a list value is a non-empty sequence of " + TypeName(elem) + " values",
                      "e.g. [\"201\", \"202\"]");
          ok = false;
        } else {
          for (size_t k = 0; k < v["value"].size(); ++k) {
            if (!ValueHasType(v["value"][k], elem)) {
              diags.Error(doc->At(fmt::format("{}/value/{}", vptr, k)),
                          "list item must be a " + TypeName(elem));
              ok = false;
            }
          }
        }
        if (v.contains("per_extra")) {
          diags.Error(doc->At(vptr + "/per_extra"), "per_extra is only for tables");
          ok = false;
        }
      } else if (table) {
        if (!v["value"].is_object() || v["value"].empty()) {
          diags.Error(doc->At(vptr + "/value"), "a table value is a mapping from integer keys to values",
                      "e.g. {2: 4066, 3: 5245}");
          ok = false;
        } else {
          for (const auto& [key, item] : v["value"].items()) {
            bool int_key = !key.empty() && key.find_first_not_of("0123456789") == std::string::npos && key.size() < 10;
            if (!int_key || !ValueHasType(item, elem)) {
              diags.Error(doc->At(vptr + "/value/" + JsonPointerEscape(key)),
                          "table entry '" + key + "' must have an integer key and a " + TypeName(elem) + " value");
              ok = false;
            }
          }
        }
        if (v.contains("per_extra") && !ValueHasType(v["per_extra"], elem)) {
          diags.Error(doc->At(vptr + "/per_extra"), "per_extra must be a " + TypeName(elem));
          ok = false;
        }
      } else if (!ValueHasType(v["value"], elem)) {
        diags.Error(doc->At(vptr + "/value"), "value does not have the declared type " + TypeName(p.type));
        ok = false;
      } else if (v.contains("per_extra")) {
        diags.Error(doc->At(vptr + "/per_extra"), "per_extra is only for tables");
        ok = false;
      }
      if (!ok) continue;
      ParamValue pv{*from, v["value"], v["source"].get<std::string>(), v.value("provisional", false), std::nullopt};
      if (v.contains("per_extra")) pv.per_extra = v["per_extra"];
      p.values.push_back(std::move(pv));
    }
    std::sort(p.values.begin(), p.values.end(), [](auto& a, auto& b) { return a.from < b.from; });
    for (size_t k = 1; k < p.values.size(); ++k) {
      if (p.values[k].from == p.values[k - 1].from) {
        diags.Error(doc->At(ptr), "parameter '" + name + "' has two values from " + p.values[k].from.ToString());
      }
    }
    out[name] = std::move(p);
  }
}

CheckEnv EnvFor(const std::map<std::string, ParamSpec>& params,
               const std::vector<DefinitionSpec>& definitions = {}) {
  CheckEnv env;
  for (const auto& [name, p] : params) env.params[name] = p.type;
  for (size_t i = 0; i < definitions.size(); ++i) {
    const auto& d = definitions[i];
    std::set<std::string> fields = d.body.check.argument_fields;
    env.definitions[d.name] = {static_cast<int>(i), d.result, fields};
  }
  return env;
}

Type ResultType(const std::string& t) {
  if (t == "int") return Type::Of(TypeKind::kInt);
  if (t == "decimal") return Type::Of(TypeKind::kDecimal);
  if (t == "bool") return Type::Of(TypeKind::kBool);
  if (t == "date") return Type::Of(TypeKind::kDate);
  if (t == "string") return Type::Of(TypeKind::kString);
  if (t == "duration") return Type::Of(TypeKind::kDuration);
  if (t == "persons") return Type::ListOf(TypeKind::kPerson);
  return Type::Of(TypeKind::kError);
}

CheckedExpr CompileExpr(const YamlDocument& doc, const std::string& pointer, const CheckEnv& env,
                        std::optional<Type> expected, Diagnostics& diags);

// Loads rules/definitions/*.yaml: each definition may call the ones loaded before it (files in
// name order, entries in file order), so there are no cycles by construction.
void LoadDefinitionFile(const std::string& path, const std::map<std::string, ParamSpec>& params,
                        std::vector<DefinitionSpec>& out, Diagnostics& diags) {
  auto doc = LoadYamlFile(path, diags);
  if (!doc.ok()) return;
  if (!Schema("definitions").Validate(*doc, diags)) return;
  // In file order (JSON objects are sorted by key): a definition may use those above it.
  std::vector<std::pair<int, std::string>> order;
  for (const auto& [name, spec] : doc->json().items()) order.emplace_back(doc->At("/" + JsonPointerEscape(name)).line, name);
  std::sort(order.begin(), order.end());
  for (const auto& [line, name] : order) {
    const nlohmann::json& spec = doc->json()[name];
    std::string ptr = "/" + JsonPointerEscape(name);
    bool duplicate = false;
    for (const auto& d : out) duplicate |= d.name == name;
    if (duplicate) {
      diags.Error(doc->At(ptr + "#key"), "definition '" + name + "' is defined twice");
      continue;
    }
    DefinitionSpec d;
    d.name = name;
    d.file = path;
    d.description = spec["description"].get<std::string>();
    d.argument = spec.value("argument", "person");
    d.result = ResultType(spec["returns"].get<std::string>());
    CheckEnv env = EnvFor(params, out);
    env.argument = d.argument;
    d.body = CompileExpr(*doc, ptr + "/expr", env, d.result, diags);
    out.push_back(std::move(d));
  }
}

// Parses and checks the expression at `pointer`, reporting at exact columns.
CheckedExpr CompileExpr(const YamlDocument& doc, const std::string& pointer, const CheckEnv& env,
                        std::optional<Type> expected, Diagnostics& diags) {
  CheckedExpr out;
  ScalarSource src = doc.Scalar(pointer);
  out.text = src.text;
  out.location = src.start;
  ParseResult parsed = ParseExpression(src.text);
  if (!parsed.expr) {
    diags.Error(src.LocationOf(parsed.error.offset), "syntax error: " + parsed.error.message);
    return out;
  }
  out.check = CheckExpression(*parsed.expr, env, expected);
  for (const auto& issue : out.check.issues) diags.Error(src.LocationOf(issue.offset), issue.message, issue.hint);
  out.expr = std::move(parsed.expr);
  return out;
}

// Splits `when` at its top-level && into clauses, so a decision can say which clause failed.
std::vector<CheckedExpr> CompileClauses(const YamlDocument& doc, const std::string& pointer,
                                        const CheckEnv& env, Diagnostics& diags) {
  CheckedExpr whole = CompileExpr(doc, pointer, env, Type::Of(TypeKind::kBool), diags);
  std::vector<CheckedExpr> clauses;
  if (!whole.expr || !whole.check.issues.empty()) {
    clauses.push_back(std::move(whole));
    return clauses;
  }
  std::vector<std::unique_ptr<Expr>> parts;
  std::vector<size_t> ops;
  std::function<void(std::unique_ptr<Expr>)> flatten = [&](std::unique_ptr<Expr> e) {
    if (e->kind == ExprKind::kBinary && e->name == "&&") {
      size_t op = e->offset;
      auto lhs = std::move(e->args[0]);
      auto rhs = std::move(e->args[1]);
      flatten(std::move(lhs));
      ops.push_back(op);
      flatten(std::move(rhs));
    } else {
      parts.push_back(std::move(e));
    }
  };
  std::string text = whole.text;
  CheckResult check = whole.check;
  flatten(std::move(whole.expr));
  ScalarSource src = doc.Scalar(pointer);
  size_t start = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    size_t end = i < ops.size() ? ops[i] : text.size();
    std::string t = text.substr(start, end - start);
    size_t b = t.find_first_not_of(" \n\t"), e = t.find_last_not_of(" \n\t");
    CheckedExpr c;
    c.text = b == std::string::npos ? t : t.substr(b, e - b + 1);
    c.location = src.LocationOf(start + (b == std::string::npos ? 0 : b));
    c.expr = std::move(parts[i]);
    c.check.slots = check.slots;  // slots are numbered across the whole expression
    c.check.subject_paths = check.subject_paths;
    clauses.push_back(std::move(c));
    start = end + 2;
  }
  return clauses;
}

void LoadMessages(const std::string& path, RuleSpec& rule, Diagnostics& diags) {
  auto doc = LoadYamlFile(path, diags);
  if (!doc.ok()) return;
  if (!Schema("messages").Validate(*doc, diags)) return;
  const auto& known = MessagePlaceholders();
  for (const auto& [lang, m] : doc->json().items()) {
    for (const char* part : {"title", "body"}) {
      std::string ptr = "/" + lang + "/" + part;
      std::string text = m[part].get<std::string>();
      ScalarSource src = doc->Scalar(ptr);
      // A plain scanner (linear, no recursion) for {{ name }}; at most 20 reports per part.
      int reported = 0;
      for (size_t open = text.find("{{"); open != std::string::npos && reported < 20; open = text.find("{{", open + 2)) {
        size_t close = text.find("}}", open + 2);
        if (close == std::string::npos) {
          diags.Error(doc->At(ptr), "unclosed {{ in " + lang + " " + part, "write placeholders as {{name}}");
          break;
        }
        std::string name = text.substr(open + 2, close - open - 2);
        size_t b = name.find_first_not_of(' '), e = name.find_last_not_of(' ');
        name = b == std::string::npos ? "" : name.substr(b, e - b + 1);
        if (std::find(known.begin(), known.end(), name) == known.end()) {
          // Locate the placeholder in the raw source when the text maps one to one.
          size_t raw = src.text.find(text.substr(open, close + 2 - open));
          SourceLocation loc = raw == std::string::npos ? doc->At(ptr) : src.LocationOf(raw);
          std::string list;
          for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
          diags.Error(loc, "unknown placeholder {{" + name.substr(0, 64) + "}} in " + lang + " " + part,
                      "placeholders: " + list);
          ++reported;
        }
      }
    }
    // Who sends it, why, how to object: each section present and placed in the body.
    MessageTemplate t{m["title"].get<std::string>(), m["body"].get<std::string>(), "", "", ""};
    for (const auto& [section, says] : MessageSections()) {
      if (!m.contains(section) || !m[section].is_string()) {
        diags.Error(doc->At("/" + lang), "the " + lang + " message does not say " + says + ": no '" + section + "' section",
                    "add " + section + ": \"...\" under " + lang + " and put {{" + section + "}} in the body");
        continue;
      }
      (section == "sender" ? t.sender : section == "reason" ? t.reason : t.objection) = m[section].get<std::string>();
      if (t.body.find("{{" + section + "}}") == std::string::npos &&
          t.body.find("{{ " + section + " }}") == std::string::npos) {
        diags.Error(doc->At("/" + lang + "/body"), "the " + lang + " body does not say " + says + ": {{" + section + "}} is missing",
                    "put {{" + section + "}} where the message should say " + says);
      }
    }
    rule.messages[lang] = std::move(t);
  }
}

// Typed reads that tolerate a document which failed schema validation, so that one run reports
// the schema problems and the expression, declaration and template problems together.
const nlohmann::json* At(const nlohmann::json& j, const std::string& pointer) {
  try {
    return &j.at(nlohmann::json::json_pointer(pointer));
  } catch (...) {
    return nullptr;
  }
}
std::string Str(const nlohmann::json& j, const std::string& pointer) {
  const auto* v = At(j, pointer);
  return v && v->is_string() ? v->get<std::string>() : "";
}
int Int(const nlohmann::json& j, const std::string& pointer) {
  const auto* v = At(j, pointer);
  return v && v->is_number_integer() ? v->get<int>() : 0;
}
bool IsStr(const nlohmann::json& j, const std::string& pointer) {
  const auto* v = At(j, pointer);
  return v && v->is_string();
}

// Reports an entry already listed earlier in the same list (`seen`: value -> first index). Done
// here, not by the schema's uniqueItems: valijson checks that pair by pair and records an error
// for every equal pair, so a long list of repeats took minutes and gigabytes
// (tests/fuzz/regressions/rule-unique-items-quadratic.yaml). Returns true for a repeat.
bool Repeated(const YamlDocument& doc, std::string_view list, size_t idx, const std::string& value,
              std::map<std::string, size_t>& seen, Diagnostics& diags) {
  auto [it, inserted] = seen.emplace(value, idx);
  if (inserted) return false;
  diags.Error(doc.At(fmt::format("{}/{}", list, idx)),
              fmt::format("'{}' is listed twice (also item {} of {})", value, it->second + 1, list),
              "remove the repeated entry");
  return true;
}

void LoadRuleDocument(const Result<YamlDocument>& doc, const std::string& path,
                      const std::map<std::string, ParamSpec>& params,
                      const std::vector<DefinitionSpec>& definitions, RuleSpec& rule, Diagnostics& diags) {
  rule.file = path;
  if (!doc.ok()) return;
  const auto& j = doc->json();
  if (!j.is_object()) {
    diags.Error(doc->At(""), "a rule file must be a mapping of keys (service, title, ...)");
    return;
  }
  (void)Schema("rule").Validate(*doc, diags);  // keep going: report everything in one run
  CheckEnv env = EnvFor(params, definitions);
  rule.service = Str(j, "/service");
  rule.version = Int(j, "/version");
  rule.owner = Str(j, "/owner");
  rule.mode = Str(j, "/mode");
  if (const auto* t = At(j, "/title"); t && t->is_object()) {
    for (const auto& [lang, v] : t->items()) {
      if (v.is_string()) rule.title[lang] = v.get<std::string>();
    }
  }
  if (const auto* facts = At(j, "/data_held/facts"); facts && facts->is_array()) {
    std::map<std::string, size_t> seen_facts;
    for (size_t idx = 0; idx < facts->size(); ++idx) {
      const nlohmann::json& item = (*facts)[idx];
      int max_age = 0;
      std::string path_s;
      if (item.is_string()) {
        path_s = item.get<std::string>();
      } else if (item.is_object() && item.contains("fact") && item["fact"].is_string()) {
        path_s = item["fact"].get<std::string>();
        if (item.contains("max_age_days") && item["max_age_days"].is_number_integer()) max_age = item["max_age_days"].get<int>();
      } else {
        continue;
      }
      std::string field = path_s.rfind("subject.", 0) == 0 ? path_s.substr(8) : "";
      if (!FindField(TypeKind::kPerson, field)) {
        diags.Error(doc->At(fmt::format("/data_held/facts/{}", idx)), "unknown fact '" + path_s + "'",
                    "facts of a person: birth_date, death_date, municipality, language, address_protected, alive, guardians, children, placements");
        continue;
      }
      if (Repeated(*doc, "/data_held/facts", idx, path_s, seen_facts, diags)) continue;
      rule.data_held.push_back(path_s);
      rule.data_held_max_age.push_back(max_age);
    }
  }
  rule.permission_basis = Str(j, "/permission/basis");
  rule.permission_purpose = Str(j, "/permission/purpose");
  rule.permission_reference = Str(j, "/permission/reference");
  rule.obligation_statute = Str(j, "/obligation/statute");
  if (const auto* refs = At(j, "/legal_references"); refs && refs->is_array()) {
    for (const auto& r : *refs) {
      if (r.is_string()) rule.legal_references.push_back(r.get<std::string>());
    }
  }
  rule.deployment_decision = Str(j, "/deployment_decision/reference");
  rule.deployment_decision_date = Str(j, "/deployment_decision/date");
  if (!rule.deployment_decision_date.empty() && !Date::Parse(rule.deployment_decision_date)) {
    diags.Error(doc->At("/deployment_decision/date"), "not a valid date", "write YYYY-MM-DD");
  }
  if (IsStr(j, "/trigger/schedule")) {
    rule.schedule_text = Str(j, "/trigger/schedule");
    std::string error;
    rule.schedule = Schedule::Parse(rule.schedule_text, &error);
    if (!rule.schedule) {
      diags.Error(doc->At("/trigger/schedule"), "invalid schedule: " + error,
                  "daily HH:MM | weekly MON HH:MM | monthly DD HH:MM | yearly MM-DD HH:MM");
    }
  }
  if (const auto* changes = At(j, "/trigger/on_change"); changes && changes->is_array()) {
    std::map<std::string, size_t> seen_changes;
    for (size_t idx = 0; idx < changes->size(); ++idx) {
      if (!(*changes)[idx].is_string()) continue;
      std::string fact = (*changes)[idx].get<std::string>();
      if (Repeated(*doc, "/trigger/on_change", idx, fact, seen_changes, diags)) continue;
      if (!FindField(TypeKind::kPerson, fact.rfind("subject.", 0) == 0 ? fact.substr(8) : "")) {
        diags.Error(doc->At(fmt::format("/trigger/on_change/{}", idx)), "unknown fact '" + fact + "'");
        continue;
      }
      rule.on_change.push_back(fact);
    }
  }
  rule.resident_minutes_saved = Int(j, "/benefit/resident_minutes_saved");
  rule.city_eur_saved = Int(j, "/benefit/city_eur_saved");
  if (rule.permission_basis == "consent") {
    // Whose consent gives the permission: the subject's own, or any one of their guardians'.
    rule.permission_from = IsStr(j, "/permission/from") ? Str(j, "/permission/from") : "subject";
  } else if (At(j, "/permission/from")) {
    diags.Error(doc->At("/permission/from"), "`from` names whose consent is needed; it applies only to basis: consent");
  }

  std::set<std::string> read;
  if (IsStr(j, "/eligibility/applies_to")) {
    rule.applies_to = CompileExpr(*doc, "/eligibility/applies_to", env, Type::Of(TypeKind::kBool), diags);
    read = rule.applies_to.check.subject_paths;
  }
  if (IsStr(j, "/eligibility/when")) {
    rule.eligibility = CompileClauses(*doc, "/eligibility/when", env, diags);
    for (const auto& c : rule.eligibility) read.insert(c.check.subject_paths.begin(), c.check.subject_paths.end());
  }

  if (const auto* o = At(j, "/offer"); o && o->is_object()) {
    rule.has_offer = true;
    if (IsStr(j, "/offer/to")) {
      rule.offer_to = CompileExpr(*doc, "/offer/to", env, Type::ListOf(TypeKind::kPerson), diags);
      read.insert(rule.offer_to.check.subject_paths.begin(), rule.offer_to.check.subject_paths.end());
    }
    if (IsStr(j, "/offer/period")) {
      rule.period = CompileExpr(*doc, "/offer/period", env, std::nullopt, diags);
      if (rule.period.expr && rule.period.expr->type.kind != TypeKind::kError &&
          rule.period.expr->type.kind != TypeKind::kInt && rule.period.expr->type.kind != TypeKind::kString) {
        diags.Error(rule.period.location, "offer period must be an int or a string, not " + TypeName(rule.period.expr->type),
                    "e.g. year(today)");
      }
    }
    auto days = [](const std::string& d) { return d.empty() ? 0 : std::atoi(d.c_str()); };
    rule.reply_within_days = days(Str(j, "/offer/reply_within"));
    if (const auto* rem = At(j, "/offer/remind_after"); rem && rem->is_array()) {
      for (const auto& r : *rem) {
        if (r.is_string()) rule.remind_after_days.push_back(days(r.get<std::string>()));
      }
    }
    if (const auto* ch = At(j, "/offer/channels"); ch && ch->is_array()) {
      std::map<std::string, size_t> seen_channels;
      for (size_t idx = 0; idx < ch->size(); ++idx) {
        const auto& c = (*ch)[idx];
        if (!c.is_string() || Repeated(*doc, "/offer/channels", idx, c.get<std::string>(), seen_channels, diags)) continue;
        rule.channels.push_back(c.get<std::string>());
      }
    }
    if (IsStr(j, "/offer/messages")) {
      // The messages live beside the rule: a plain relative name, no way out of its folder.
      fs::path name = Str(j, "/offer/messages");
      bool inside = !name.empty() && name.is_relative();
      for (const auto& part : name) inside = inside && part != "..";
      if (!inside) {
        diags.Error(doc->At("/offer/messages"), "the messages file must be a relative path inside the rule's folder",
                    "e.g. messages: messages.yaml");
      } else {
        LoadMessages((fs::path(path).parent_path() / name).string(), rule, diags);
      }
    }
  }
  if (At(j, "/data_held/facts")) {
    for (const auto& p : read) {
      if (std::find(rule.data_held.begin(), rule.data_held.end(), p) == rule.data_held.end()) {
        diags.Error(doc->At("/data_held/facts"), "the rule reads " + p + " but does not declare it in data_held",
                    "add " + p + " to data_held.facts: a decision must say which facts it depends on");
      }
    }
  }
}

void LoadRule(const std::string& path, const std::map<std::string, ParamSpec>& params,
              const std::vector<DefinitionSpec>& definitions, RuleSpec& rule, Diagnostics& diags) {
  LoadRuleDocument(LoadYamlFile(path, diags), path, params, definitions, rule, diags);
}

std::string ReadFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<fs::path> SortedYaml(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && (e.path().extension() == ".yaml" || e.path().extension() == ".yml")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Result<std::shared_ptr<const RuleSources>> LoadRuleSources(const std::string& directory, Diagnostics& diags) {
  auto out = std::make_shared<RuleSources>();
  out->directory = directory;
  fs::path root(directory);
  if (!fs::is_directory(root)) {
    diags.Error({directory, 0, 0}, "rules directory does not exist");
    return Status::Invalid("rules directory " + directory + " does not exist");
  }
  std::string digest_input;
  for (const auto& p : SortedYaml(root / "params")) {
    LoadParamFile(p.string(), out->params, diags);
    digest_input += p.lexically_relative(root).string() + '\0' + ReadFile(p) + '\0';
  }
  for (const auto& p : SortedYaml(root / "definitions")) {
    LoadDefinitionFile(p.string(), out->params, out->definitions, diags);
    digest_input += p.lexically_relative(root).string() + '\0' + ReadFile(p) + '\0';
  }
  std::vector<fs::path> rule_dirs;
  for (const auto& e : fs::directory_iterator(root)) {
    if (e.is_directory() && fs::exists(e.path() / "rule.yaml")) rule_dirs.push_back(e.path());
  }
  std::sort(rule_dirs.begin(), rule_dirs.end());
  std::set<std::string> services;
  for (const auto& d : rule_dirs) {
    RuleSpec rule;
    LoadRule((d / "rule.yaml").string(), out->params, out->definitions, rule, diags);
    for (const auto& f : SortedYaml(d)) digest_input += f.lexically_relative(root).string() + '\0' + ReadFile(f) + '\0';
    if (!rule.service.empty() && !services.insert(rule.service).second) {
      diags.Error({rule.file, 1, 1}, "service '" + rule.service + "' is defined twice");
    }
    out->rules.push_back(std::move(rule));
  }
  out->revision = Sha256Hex(digest_input).substr(0, 16);
  if (diags.has_errors()) {
    return Status::Invalid(fmt::format("{} error{} in rules under {}", diags.error_count(),
                                       diags.error_count() == 1 ? "" : "s", directory));
  }
  return std::shared_ptr<const RuleSources>(std::move(out));
}

namespace {
void CheckOneRule(const std::string& rule_file, const fs::path& rules_root, Diagnostics& diags) {
  std::map<std::string, ParamSpec> params;
  std::vector<DefinitionSpec> definitions;
  for (const auto& f : SortedYaml(rules_root / "params")) LoadParamFile(f.string(), params, diags);
  for (const auto& f : SortedYaml(rules_root / "definitions")) LoadDefinitionFile(f.string(), params, definitions, diags);
  RuleSpec rule;
  LoadRule(rule_file, params, definitions, rule, diags);
}
}  // namespace

Status CheckRulePaths(const std::vector<std::string>& paths, Diagnostics& diags) {
  for (const auto& p : paths) {
    fs::path path(p);
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      if (fs::exists(path / "rule.yaml")) {
        // A single service folder: its parent holds params/ and definitions/.
        CheckOneRule((path / "rule.yaml").string(), path.parent_path(), diags);
      } else {
        (void)LoadRuleSources(p, diags);
      }
    } else if (fs::exists(path, ec)) {
      CheckOneRule(p, path.parent_path().parent_path(), diags);
    } else {
      diags.Error({p, 0, 0}, "no such file or directory");
    }
  }
  return diags.has_errors() ? Status::Invalid("rule errors") : Status::Ok();
}

Status CheckRuleText(const std::string& text, const std::string& file, Diagnostics& diags) {
  RuleSpec rule;
  LoadRuleDocument(ParseYaml(text, file, diags), file, {}, {}, rule, diags);
  return diags.has_errors() ? Status::Invalid("rule errors") : Status::Ok();
}

}  // namespace ennakko
