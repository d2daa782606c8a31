#include "engine/app/explain.h"

#include <fmt/format.h>

#include <ostream>
#include <set>

#include "engine/app/consent_snapshot.h"
#include "engine/app/evaluation_pass.h"
#include "engine/app/tool_context.h"
#include "engine/base/hetu.h"
#include "engine/eval/evaluator.h"
#include "engine/lang/rule.h"

namespace ennakko {

namespace {

using nlohmann::json;

// Steps once; false when done or on an error (explain shows what it can read).
bool Next(Stmt& st) {
  auto row = st.Step();
  return row.ok() && *row;
}

json DateOrNull(int32_t days) { return days == kNoDate ? json(nullptr) : json(Date{days}.ToString()); }

// A decimal in millionths as euros: "3200.50", "-12.345".
std::string Euros(int64_t micros) {
  std::string sign = micros < 0 ? "-" : "";
  uint64_t m = micros < 0 ? static_cast<uint64_t>(-(micros + 1)) + 1 : static_cast<uint64_t>(micros);
  std::string frac = fmt::format("{:06d}", m % static_cast<uint64_t>(kDecimalScale));
  while (frac.size() > 2 && frac.back() == '0') frac.pop_back();
  return sign + std::to_string(m / static_cast<uint64_t>(kDecimalScale)) + "." + frac;
}

// Reads facts of one resident for display: relations as pseudonyms, columns by fact name, and the
// provenance row of each fact. The mapping from a declared fact to what is shown lives here.
class FactReader {
 public:
  FactReader(Db& db, const Population& pop, const Pseudonymizer& ps) : db_(db), pop_(pop), ps_(ps) {
    if (auto st = db_.Prepare("PRAGMA table_info(residents)"); st.ok()) {
      while (Next(*st)) columns_.insert(st->Text(1));
    }
    columns_.erase("hetu");  // never shown: residents appear as pseudonyms
  }

  std::string PseudonymOf(int64_t store_id) {
    auto st = db_.Prepare("SELECT hetu FROM residents WHERE id = ?");
    if (!st.ok()) return "?";
    st->Bind(1, store_id);
    return Next(*st) ? ps_.Of(st->Text(0)) : "?";
  }

  json People(std::span<const PersonIndex> people) {
    json out = json::array();
    for (PersonIndex p : people) {
      out.push_back({{"pseudonym", PseudonymOf(pop_.store_id(p))}, {"alive", pop_.death_date(p) == kNoDate}});
    }
    return out;
  }

  // The value of `field` ("birth_date", "guardians", ...) for `person`, as the rule sees it on the
  // evaluation date (custody in force), or a note when explain has no view of it.
  json Value(const std::string& field, PersonIndex person, bool* shown) {
    *shown = true;
    int64_t id = pop_.store_id(person);
    if (field == "alive") return pop_.death_date(person) == kNoDate;
    if (field == "guardians") return People(pop_.guardians(person));
    if (field == "children") return People(pop_.children(person));
    if (field == "siblings") return People(pop_.siblings(person));
    if (field == "household") return People(pop_.household(person));
    if (field == "incomes") {
      if (!pop_.incomes_held(person)) return nullptr;
      json out = json::array();
      for (const Income& in : pop_.incomes(person)) {
        out.push_back({{"type", pop_.strings().Get(in.type)},
                       {"amount", Euros(in.amount)},
                       {"start_date", DateOrNull(in.start)},
                       {"end_date", DateOrNull(in.end)}});
      }
      return out;
    }
    if (field == "placements") {
      json out = json::array();
      auto st =
          db_.Prepare("SELECT kind, start_date, end_date FROM placements WHERE resident_id = ? ORDER BY start_date");
      if (!st.ok()) return nullptr;
      st->Bind(1, id);
      while (Next(*st)) {
        out.push_back({{"kind", st->Text(0)},
                       {"start_date", st->OptText(1) ? json(*st->OptText(1)) : json(nullptr)},
                       {"end_date", st->OptText(2) ? json(*st->OptText(2)) : json(nullptr)}});
      }
      return out;
    }
    if (columns_.contains(field)) {
      // The name is one of the table's own columns, so quoting it is safe.
      auto st = db_.Prepare("SELECT \"" + field + "\" FROM residents WHERE id = ?");
      if (!st.ok()) return nullptr;
      st->Bind(1, id);
      if (!Next(*st) || st->IsNull(0)) return nullptr;
      const FieldInfo* info = FindField(TypeKind::kPerson, field);
      if (info && info->type.kind == TypeKind::kBool) return st->Int(0) != 0;
      return st->Text(0);
    }
    *shown = false;
    return nullptr;
  }

  // The facts row of a field: where the value came from. `alive` is derived from death_date and
  // `household` from the address.
  json Provenance(const std::string& field, PersonIndex person) {
    auto st = db_.Prepare("SELECT source, change_id, fetched_at FROM facts WHERE resident_id = ? AND name = ?");
    if (!st.ok()) return nullptr;
    const std::string name = field == "alive" ? "death_date" : field == "household" ? "address" : field;
    st->Bind(1, pop_.store_id(person)).Bind(2, name);
    if (!Next(*st)) {
      if (field == "alive") return {{"note", "derived: no date of death recorded"}};
      return nullptr;
    }
    return {{"source", st->Text(0)}, {"change_id", st->Text(1)}, {"fetched_at", st->Text(2)}};
  }

 private:
  Db& db_;
  const Population& pop_;
  const Pseudonymizer& ps_;
  std::set<std::string> columns_;
};

json StoredDecision(Db& db, const std::string& service, int64_t subject_id, const std::string& period) {
  auto st = db.Prepare(
      "SELECT period, verdict, data_held, permission, obligation, eligibility, benefit, reasons, ruleset, decided_at "
      "FROM decisions WHERE service = ? AND subject_id = ? ORDER BY (period = ?) DESC, decided_at DESC LIMIT 1");
  if (!st.ok()) return nullptr;
  st->Bind(1, service).Bind(2, subject_id).Bind(3, period);
  if (!Next(*st)) return nullptr;
  json conditions;
  for (int c = 0; c < kConditionCount; ++c) conditions[ConditionName(static_cast<Condition>(c))] = st->Text(2 + c);
  json reasons = json::parse(st->Text(7), nullptr, false);
  return {{"period", st->Text(0)},    {"verdict", st->Text(1)},
          {"conditions", conditions}, {"reasons", reasons.is_discarded() ? json(st->Text(7)) : reasons},
          {"ruleset", st->Text(8)},   {"decided_at", st->Text(9)}};
}

// What differs between the decision made now and the stored one.
json Differences(const json& now, const json& stored) {
  json out = json::array();
  if (stored.is_null()) return out;
  if (!now["applies"].get<bool>()) {
    out.push_back("applies: the subject is outside applies_to now, but the store has a decision");
    return out;
  }
  for (const char* key : {"period", "verdict", "conditions", "reasons"}) {
    if (now[key] != stored[key])
      out.push_back(fmt::format("{}: now {}, stored {}", key, now[key].dump(), stored[key].dump()));
  }
  return out;
}

// The parameters a rule reads, directly or through the named definitions it calls.
std::set<std::string> ParamsUsedBy(const RuleSet& rules, const CompiledRule& rule) {
  std::set<std::string> names;
  std::set<int64_t> seen_definitions;
  std::vector<const CompiledExpr*> todo = {&rule.applies_to, &rule.offer_to, &rule.period};
  for (const auto& c : rule.clauses) todo.push_back(&c);
  while (!todo.empty()) {
    const CompiledExpr* e = todo.back();
    todo.pop_back();
    for (const Node& n : e->nodes) {
      if ((n.op == Op::kParam || n.op == Op::kIndex) && static_cast<size_t>(n.imm) < rules.param_names().size()) {
        names.insert(rules.param_names()[static_cast<size_t>(n.imm)]);
      } else if (n.op == Op::kDefinition && static_cast<size_t>(n.imm) < rules.definitions().size() &&
                 seen_definitions.insert(n.imm).second) {
        todo.push_back(&rules.definitions()[static_cast<size_t>(n.imm)]);
      }
    }
  }
  return names;
}

std::string Text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// A fact's value for a terminal: people as "p-... (alive)", placements as "kind start..end".
std::string ValueText(const json& v) {
  if (v.is_null()) return "not held";
  if (!v.is_array()) return Text(v);
  if (v.empty()) return "none";
  std::string out;
  for (const auto& item : v) {
    std::string one = Text(item);
    if (item.is_object() && item.contains("pseudonym")) {
      one = Text(item["pseudonym"]) + (item["alive"].get<bool>() ? " (alive)" : " (dead)");
    } else if (item.is_object() && item.contains("amount")) {
      auto date = [&](const char* k) { return item[k].is_null() ? std::string() : Text(item[k]); };
      one = Text(item["type"]) + " " + Text(item["amount"]) + " EUR " + date("start_date") + ".." + date("end_date");
    } else if (item.is_object() && item.contains("kind")) {
      auto date = [&](const char* k) { return item[k].is_null() ? std::string() : Text(item[k]); };
      one = Text(item["kind"]) + " " + date("start_date") + ".." + date("end_date");
    }
    out += (out.empty() ? "" : ", ") + one;
  }
  return out;
}

}  // namespace

Result<int64_t> FindSubject(Db& db, const Pseudonymizer& pseudonyms, const std::string& id) {
  if (id.starts_with("p-")) {
    auto st = db.Prepare("SELECT id, hetu FROM residents");
    if (!st.ok()) return st.status();
    for (;;) {
      auto row = st->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      if (pseudonyms.Of(st->Text(1)) == id) return st->Int(0);
    }
    return Status::NotFound("no resident has pseudonym " + id + " under the configured key");
  }
  auto hetu = ParseHetu(id);
  if (!hetu.ok()) {
    return Status::Invalid("--subject is neither a pseudonym (p-...) nor a valid identity code: " +
                           hetu.status().message());
  }
  auto st = db.Prepare("SELECT id FROM residents WHERE hetu = ?");
  if (!st.ok()) return st.status();
  st->Bind(1, hetu->code);
  auto row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("no resident with that identity code in the store");
  return st->Int(0);
}

Result<json> ExplainDecision(Db& db, const RuleSet& rules, const Pseudonymizer& pseudonyms, const std::string& service,
                             int64_t subject_id, Date at) {
  std::optional<size_t> rule;
  for (size_t r = 0; r < rules.rules().size(); ++r) {
    if (rules.rules()[r].spec->service == service) rule = r;
  }
  if (!rule) return Status::Invalid("no service " + service + " in the rules directory " + rules.sources().directory);
  const RuleSpec& spec = *rules.rules()[*rule].spec;
  auto pop = LoadPopulation(db, at, rules.freshness_fields());
  if (!pop.ok()) return pop.status();
  int64_t index = pop->IndexOf(subject_id);
  if (index < 0) return Status::NotFound("the subject is not in the loaded population");
  auto subject = static_cast<PersonIndex>(index);

  FactReader facts(db, *pop, pseudonyms);
  Evaluator ev(rules, *pop, at);
  Decision d;
  bool applies = ev.Evaluate(*rule, subject, &d);
  json j = {{"service", service},
            {"rule_version", spec.version},
            {"revision", rules.revision()},
            {"at", at.ToString()},
            {"subject", facts.PseudonymOf(subject_id)},
            {"applies", applies},
            {"applies_to", spec.applies_to.text}};
  if (applies) {
    json conditions;
    for (int c = 0; c < kConditionCount; ++c) {
      conditions[ConditionName(static_cast<Condition>(c))] = TriName(d.conditions[static_cast<size_t>(c)]);
    }
    json recipients = json::array();
    for (PersonIndex p : d.recipients) recipients.push_back(facts.PseudonymOf(pop->store_id(p)));
    j["verdict"] = VerdictName(d.verdict);
    j["period"] = d.period;
    j["conditions"] = conditions;
    j["reasons"] = d.reasons;
    j["recipients"] = recipients;
  }
  if (const CompiledRule& compiled = rules.rules()[*rule]; compiled.consent) {
    // Permission by consent: every consent for the purpose of the person(s) the rule names, and
    // whether it counts on the evaluation date.
    json consents = json::array();
    std::vector<PersonIndex> from = {subject};
    if (compiled.consent_from_guardians) from.assign(pop->guardians(subject).begin(), pop->guardians(subject).end());
    for (PersonIndex p : from) {
      auto st = db.Prepare(
          "SELECT id, granted_at, expires_at, revoked_at, source FROM consents WHERE resident_id = ? AND purpose = ? "
          "ORDER BY id");
      if (!st.ok()) return st.status();
      st->Bind(1, pop->store_id(p)).Bind(2, compiled.consent_purpose);
      while (Next(*st)) {
        auto [first, until] = ConsentDays(st->Text(1), st->OptText(2), st->OptText(3));
        Consent c{st->Int(0), 0, first, until};
        consents.push_back({{"consent", st->Int(0)},
                            {"from", facts.PseudonymOf(pop->store_id(p))},
                            {"granted_at", st->Text(1)},
                            {"expires_at", st->OptText(2) ? json(*st->OptText(2)) : json(nullptr)},
                            {"revoked_at", st->OptText(3) ? json(*st->OptText(3)) : json(nullptr)},
                            {"source", st->Text(4)},
                            {"counts_on_date", c.ActiveOn(at.days)}});
      }
    }
    j["permission"] = {{"basis", "consent"},
                       {"purpose", compiled.consent_purpose},
                       {"from", compiled.consent_from_guardians ? "subject.guardians" : "subject"},
                       {"consents", consents}};
  }
  j["facts"] = json::array();
  for (const auto& name : spec.data_held) {
    std::string field = name.starts_with("subject.") ? name.substr(8) : name;
    bool shown = true;
    json entry = {{"fact", name},
                  {"value", facts.Value(field, subject, &shown)},
                  {"provenance", facts.Provenance(field, subject)}};
    if (!shown) entry["note"] = "explain does not show this fact yet";
    j["facts"].push_back(entry);
  }
  j["parameters"] = json::array();
  std::set<std::string> used = ParamsUsedBy(rules, rules.rules()[*rule]);
  for (const auto& [name, param] : rules.sources().params) {
    if (!used.contains(name)) continue;
    const ParamValue* v = param.InForce(at);
    if (v) {
      json p = {{"name", name}, {"value", v->value}, {"from", v->from.ToString()}, {"source", v->source}};
      if (v->per_extra) p["per_extra"] = *v->per_extra;
      if (v->provisional) p["provisional"] = true;
      j["parameters"].push_back(p);
    } else
      j["parameters"].push_back(
          {{"name", name}, {"value", nullptr}, {"note", "no value in force on " + at.ToString()}});
  }
  j["stored_decision"] = StoredDecision(db, service, subject_id, d.period);
  j["differences"] = Differences(j, j["stored_decision"]);
  return j;
}

std::string RenderExplanation(const json& j) {
  std::string s = fmt::format("{} for {} on {}\n", Text(j["service"]), Text(j["subject"]), Text(j["at"]));
  auto row = [&](const char* key, const std::string& value) { s += fmt::format("  {:<12} {}\n", key, value); };
  row("revision", Text(j["revision"]) + " (rule version " + Text(j["rule_version"]) + ")");
  row("applies_to", Text(j["applies_to"]) + (j["applies"].get<bool>() ? "  -> yes" : "  -> no"));
  if (j["applies"].get<bool>()) {
    row("verdict",
        Text(j["verdict"]) + (j["period"].get<std::string>().empty() ? "" : " (period " + Text(j["period"]) + ")"));
    std::string conditions;
    for (int c = 0; c < kConditionCount; ++c) {
      const char* name = ConditionName(static_cast<Condition>(c));
      conditions += (conditions.empty() ? "" : ", ") + std::string(name) + " " + Text(j["conditions"][name]);
    }
    row("conditions", conditions);
    if (j["reasons"].empty()) row("reasons", "none");
    for (size_t i = 0; i < j["reasons"].size(); ++i) row(i == 0 ? "reasons" : "", Text(j["reasons"][i]));
    std::string recipients;
    for (const auto& r : j["recipients"]) recipients += (recipients.empty() ? "" : ", ") + Text(r);
    row("recipients", recipients.empty() ? "none" : recipients);
  } else {
    row("verdict", "none: the subject is outside the rule's applies_to, so no decision is recorded");
  }
  if (j.contains("permission")) {
    const json& p = j["permission"];
    s += fmt::format("permission by consent for purpose {} from {}\n", Text(p["purpose"]), Text(p["from"]));
    if (p["consents"].empty()) s += "  no consent recorded\n";
    for (const auto& c : p["consents"]) {
      s += fmt::format("  consent {} from {}: granted {}, expires {}, revoked {}, source {}{}\n", Text(c["consent"]),
                       Text(c["from"]), Text(c["granted_at"]), c["expires_at"].is_null() ? "never" : Text(c["expires_at"]),
                       c["revoked_at"].is_null() ? "no" : Text(c["revoked_at"]), Text(c["source"]),
                       c["counts_on_date"].get<bool>() ? "  -> counts" : "  -> does not count");
    }
  }
  s += "facts declared in data_held (value; then source, change id, fetched at)\n";
  for (const auto& f : j["facts"]) {
    std::string value = f.contains("note") ? Text(f["note"]) : ValueText(f["value"]);
    const json& p = f["provenance"];
    std::string from = p.is_null() ? "no provenance row"
                       : p.contains("note")
                           ? Text(p["note"])
                           : Text(p["source"]) + ", " + Text(p["change_id"]) + ", " + Text(p["fetched_at"]);
    s += fmt::format("  {:<22} {}\n  {:<22} {}\n", Text(f["fact"]), value, "", from);
  }
  s += "parameters the rule uses, in force on " + Text(j["at"]) + "\n";
  for (const auto& p : j["parameters"]) {
    if (p["value"].is_null())
      s += fmt::format("  {} : {}\n", Text(p["name"]), Text(p["note"]));
    else
      s += fmt::format("  {} = {}{} (from {}; {}){}\n", Text(p["name"]), p["value"].dump(),
                       p.contains("per_extra") ? ", +" + p["per_extra"].dump() + " per extra" : "", Text(p["from"]),
                       Text(p["source"]),
                       p.contains("provisional") ? " [provisional: not confirmed by its source]" : "");
  }
  const json& st = j["stored_decision"];
  if (st.is_null()) {
    s += "stored decision: none\n";
  } else {
    s += fmt::format("stored decision: period {}, {}, decided {} under revision {}\n", Text(st["period"]),
                     Text(st["verdict"]), Text(st["decided_at"]), Text(st["ruleset"]));
    if (j["differences"].empty()) {
      // Only changes are recorded, so an unchanged decision keeps the revision that first made it.
      s += st["ruleset"] == j["revision"] ? "  same as now\n"
                                          : "  same as now (recorded under an earlier revision; unchanged since)\n";
    }
    for (const auto& d : j["differences"]) s += "  differs: " + Text(d) + "\n";
  }
  return s;
}

int RunExplain(const ExplainOptions& options, std::ostream& out, std::ostream& err) {
  Diagnostics diags;
  auto ctx = OpenToolContext(options.config_path, diags);
  if (!ctx.ok()) {
    err << diags.ToString() << ctx.status().message() << "\n";
    return 2;
  }
  auto at = EvaluationDate(options.at);
  if (!at.ok()) {
    err << at.status().message() << "\n";
    return 2;
  }
  auto rules = LoadRuleSet(ctx->config.rules_directory, diags);
  if (!rules.ok()) {
    err << diags.ToString() << rules.status().message() << "\n";
    return 2;
  }
  auto subject = FindSubject(*ctx->db, *ctx->pseudonyms, options.subject);
  if (!subject.ok()) {
    err << subject.status().message() << "\n";
    return subject.status().code() == StatusCode::kNotFound ? 1 : 2;
  }
  auto explanation = ExplainDecision(*ctx->db, **rules, *ctx->pseudonyms, options.service, *subject, *at);
  if (!explanation.ok()) {
    err << explanation.status().message() << "\n";
    return explanation.status().code() == StatusCode::kNotFound ? 1 : 2;
  }
  out << (options.json ? explanation->dump(2) + "\n" : RenderExplanation(*explanation));
  return 0;
}

}  // namespace ennakko
