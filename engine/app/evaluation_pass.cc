#include "engine/app/evaluation_pass.h"

#include <chrono>

#include "engine/app/consent_snapshot.h"
#include "engine/app/incomes_snapshot.h"
#include "engine/dispatch/outbox.h"

namespace ennakko {

namespace {
int32_t DateOrNone(const std::optional<std::string>& s) {
  if (!s) return kNoDate;
  auto d = Date::Parse(*s);
  return d ? d->days : kNoDate;
}
double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}
}  // namespace

Result<Population> LoadPopulation(Db& db, Date today, const std::vector<Field>& fresh) {
  PopulationBuilder b;
  {
    auto st = db.Prepare(
        "SELECT id, birth_date, death_date, municipality, language, address_protected, "
        "coalesce(street_address, '') || '|' || coalesce(postal_code, '') FROM residents ORDER BY id");
    if (!st.ok()) return st.status();
    for (;;) {
      auto row = st->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      std::string municipality = st->Text(3), language = st->Text(4), address = st->Text(6);
      bool is_protected = st->Int(5) != 0;
      b.AddPerson({st->Int(0), DateOrNone(st->OptText(1)), DateOrNone(st->OptText(2)), municipality, language,
                   is_protected, address == "|" || is_protected ? std::string_view() : std::string_view(address)});
    }
  }
  {
    auto st = db.Prepare(
        "SELECT guardian_id, ward_id FROM custody WHERE (start_date IS NULL OR start_date <= ?1) "
        "AND (end_date IS NULL OR end_date >= ?1)");
    if (!st.ok()) return st.status();
    st->Bind(1, today.ToString());
    for (;;) {
      auto row = st->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      b.AddCustody(st->Int(0), st->Int(1));
    }
  }
  {
    auto st = db.Prepare("SELECT resident_id, kind, start_date, end_date FROM placements");
    if (!st.ok()) return st.status();
    for (;;) {
      auto row = st->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      b.AddPlacement(st->Int(0), st->Text(1), DateOrNone(st->OptText(2)), DateOrNone(st->OptText(3)));
    }
  }
  ENNAKKO_RETURN_IF_ERROR(LoadConsents(db, b));
  ENNAKKO_RETURN_IF_ERROR(LoadIncomes(db, today, b));
  for (Field field : fresh) {
    // Fact names in the store are the person fields' names (birth_date, municipality, ...).
    const char* name = nullptr;
    for (const auto& f : DataModel()) {
      if (f.field == field && f.owner == TypeKind::kPerson) name = f.name;
    }
    if (!name) continue;
    auto st = db.Prepare("SELECT resident_id, substr(fetched_at, 1, 10) FROM facts WHERE name = ?");
    if (!st.ok()) return st.status();
    st->Bind(1, name);
    for (;;) {
      auto row = st->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      b.SetFetched(st->Int(0), field, DateOrNone(st->OptText(1)));
    }
  }
  return std::move(b).Build();
}

Result<PassStats> RunEvaluationPass(Db& db, const RuleSet& rules, const Clock& clock, AuditLog& audit,
                                    const Pseudonymizer& pseudonyms, const PassOptions& options) {
  PassStats stats;
  Date today = clock.Today();
  auto t0 = std::chrono::steady_clock::now();
  auto pop = LoadPopulation(db, today, rules.freshness_fields());
  if (!pop.ok()) return pop.status();
  stats.residents = static_cast<int64_t>(pop->size());
  stats.load_seconds = Seconds(t0);

  t0 = std::chrono::steady_clock::now();
  Evaluator ev(rules, *pop, today);
  std::vector<Decision> decisions;
  for (size_t r = 0; r < rules.rules().size(); ++r) {
    for (PersonIndex p = 0; p < pop->size(); ++p) {
      Decision d;
      if (ev.Evaluate(r, p, &d)) decisions.push_back(std::move(d));
    }
  }
  stats.decisions = static_cast<int64_t>(decisions.size());
  stats.evaluate_seconds = Seconds(t0);
  ENNAKKO_RETURN_IF_ERROR(RecordDecisions(db, rules, *pop, decisions, clock, audit, pseudonyms, options, &stats));
  return stats;
}

Status RecordDecisions(Db& db, const RuleSet& rules, const Population& population,
                       const std::vector<Decision>& decisions, const Clock& clock, AuditLog& audit,
                       const Pseudonymizer& pseudonyms, const PassOptions& options, PassStats* out) {
  PassStats& stats = *out;
  const Population* pop = &population;
  auto t0 = std::chrono::steady_clock::now();
  Transaction tx(db);
  ENNAKKO_RETURN_IF_ERROR(tx.begin_status());
  auto existing = db.Prepare("SELECT id, verdict, data_held, permission, obligation, eligibility, benefit, reasons "
                             "FROM decisions WHERE service = ? AND subject_id = ? AND period = ?");
  auto upsert = db.Prepare(
      "INSERT INTO decisions (service, subject_id, period, verdict, data_held, permission, obligation, eligibility, "
      "benefit, reasons, ruleset, decided_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
      "ON CONFLICT(service, subject_id, period) DO UPDATE SET verdict = excluded.verdict, "
      "data_held = excluded.data_held, permission = excluded.permission, obligation = excluded.obligation, "
      "eligibility = excluded.eligibility, benefit = excluded.benefit, reasons = excluded.reasons, "
      "ruleset = excluded.ruleset, decided_at = excluded.decided_at RETURNING id");
  auto person = db.Prepare("SELECT hetu, language FROM residents WHERE id = ?");
  auto cancel = db.Prepare(
      "UPDATE outbox SET state = 'cancelled', last_error = 'decision no longer eligible', updated_at = ? "
      "WHERE service = ? AND subject_id = ? AND period = ? AND state = 'queued' RETURNING id");
  if (!existing.ok()) return existing.status();
  if (!upsert.ok()) return upsert.status();
  if (!person.ok()) return person.status();
  if (!cancel.ok()) return cancel.status();
  Outbox outbox(db, clock);
  std::string now = FormatTimestamp(clock.Now());

  auto lookup = [&](int64_t id) -> std::pair<std::string, std::string> {
    person->Bind(1, id);
    std::pair<std::string, std::string> out;
    auto row = person->Step();
    if (row.ok() && *row) out = {person->Text(0), person->Text(1)};
    person->Reset();
    return out;
  };

  for (const Decision& d : decisions) {
    const RuleSpec& spec = *rules.rules()[d.rule].spec;
    int64_t subject_id = pop->store_id(d.subject);
    stats.by_verdict[VerdictName(d.verdict)]++;
    nlohmann::json reasons = d.reasons;
    std::string reasons_text = reasons.dump();
    // A rule with a schedule queues its offers only on a due pass; without one, at once.
    bool queue_now = spec.mode == "offer" && spec.has_offer && (!spec.schedule || (options.due && options.due(spec)));
    existing->Bind(1, spec.service).Bind(2, subject_id).Bind(3, d.period);
    bool same = false;
    int64_t decision_id = 0;
    std::string previous_verdict;
    auto row = existing->Step();
    if (!row.ok()) return row.status();
    if (*row) {
      decision_id = existing->Int(0);
      previous_verdict = existing->Text(1);
      same = previous_verdict == VerdictName(d.verdict) && existing->Text(2) == TriName(d.conditions[kDataHeld]) &&
             existing->Text(3) == TriName(d.conditions[kPermission]) &&
             existing->Text(4) == TriName(d.conditions[kObligation]) &&
             existing->Text(5) == TriName(d.conditions[kEligibility]) &&
             existing->Text(6) == TriName(d.conditions[kBenefit]) && existing->Text(7) == reasons_text;
    }
    existing->Reset();
    auto enqueue_offers = [&](const std::string& subject_code, const std::string& subject_p) -> Status {
      for (PersonIndex r : d.recipients) {
        int64_t recipient_id = pop->store_id(r);
        auto [code, lang] = lookup(recipient_id);
        NewOffer offer{spec.service, subject_id, recipient_id, d.period, decision_id, lang.empty() ? "fi" : lang,
                       OfferKey(spec.service, subject_code, code, d.period)};
        auto id = outbox.Enqueue(offer);
        if (!id.ok()) return id.status();
        if (*id == 0) continue;  // this offer already exists: never twice
        ++stats.offers_queued;
        ENNAKKO_RETURN_IF_ERROR(audit.Append("offer.queued", {{"offer", *id}, {"service", spec.service},
                                                              {"subject", subject_p}, {"recipient", pseudonyms.Of(code)},
                                                              {"period", d.period}, {"language", offer.language},
                                                              {"decision", decision_id}}));
      }
      return Status::Ok();
    };
    if (same) {
      // Unchanged: nothing to record; a scheduled rule's due pass still queues what is eligible.
      if (spec.schedule && queue_now && d.verdict == Verdict::kEligible) {
        auto [subject_code, subject_lang] = lookup(subject_id);
        ENNAKKO_RETURN_IF_ERROR(enqueue_offers(subject_code, pseudonyms.Of(subject_code)));
      }
      continue;
    }

    upsert->Bind(1, spec.service).Bind(2, subject_id).Bind(3, d.period).Bind(4, VerdictName(d.verdict));
    for (int c = 0; c < kConditionCount; ++c) upsert->Bind(5 + c, TriName(d.conditions[static_cast<size_t>(c)]));
    upsert->Bind(10, reasons_text).Bind(11, rules.revision()).Bind(12, now);
    auto up = upsert->Step();
    if (!up.ok()) return up.status();
    decision_id = upsert->Int(0);
    upsert->Reset();
    ++stats.decisions_changed;

    auto [subject_code, subject_lang] = lookup(subject_id);
    std::string subject_p = pseudonyms.Of(subject_code);
    nlohmann::json conditions;
    for (int c = 0; c < kConditionCount; ++c) {
      conditions[ConditionName(static_cast<Condition>(c))] = TriName(d.conditions[static_cast<size_t>(c)]);
    }
    ENNAKKO_RETURN_IF_ERROR(audit.Append("decision", {{"decision", decision_id}, {"service", spec.service},
                                                      {"subject", subject_p}, {"period", d.period},
                                                      {"verdict", VerdictName(d.verdict)}, {"conditions", conditions},
                                                      {"reasons", reasons}, {"ruleset", rules.revision()},
                                                      {"mode", spec.mode}}));

    if (d.verdict != Verdict::kEligible) {
      if (previous_verdict == "eligible") {
        cancel->Bind(1, now).Bind(2, spec.service).Bind(3, subject_id).Bind(4, d.period);
        for (;;) {
          auto c = cancel->Step();
          if (!c.ok()) return c.status();
          if (!*c) break;
          ++stats.offers_cancelled;
          ENNAKKO_RETURN_IF_ERROR(audit.Append("offer.cancelled", {{"offer", cancel->Int(0)}, {"service", spec.service},
                                                                   {"subject", subject_p}, {"reason", "decision no longer eligible"}}));
        }
        cancel->Reset();
      }
      continue;
    }
    if (queue_now) ENNAKKO_RETURN_IF_ERROR(enqueue_offers(subject_code, subject_p));
  }
  // Audit first, then commit: a crash in between re-runs the pass and audits again, which is
  // noisy but never leaves a recorded decision or queued offer without its audit event.
  ENNAKKO_RETURN_IF_ERROR(audit.Flush());
  ENNAKKO_RETURN_IF_ERROR(tx.Commit());
  stats.record_seconds = Seconds(t0);
  return Status::Ok();
}

Result<bool> RuleSchedules::Due(const RuleSpec& rule) {
  if (!rule.schedule) return false;
  auto st = db_.Prepare("SELECT last_run FROM rule_runs WHERE service = ?");
  if (!st.ok()) return st.status();
  st->Bind(1, rule.service);
  auto row = st->Step();
  if (!row.ok()) return row.status();
  std::string now = FormatTimestamp(clock_.Now());
  if (!*row) {
    auto ins = db_.Prepare("INSERT INTO rule_runs (service, last_run) VALUES (?, ?)");
    if (!ins.ok()) return ins.status();
    ins->Bind(1, rule.service).Bind(2, now);
    ENNAKKO_RETURN_IF_ERROR(ins->Run());
    return false;
  }
  // Timestamps are RFC 3339 UTC with a fixed width, so text order is time order.
  return FormatTimestamp(rule.schedule->LastDueAt(clock_.Now())) > st->Text(0);
}

Status RuleSchedules::MarkRun(const std::vector<std::string>& services) {
  auto st = db_.Prepare("UPDATE rule_runs SET last_run = ? WHERE service = ?");
  if (!st.ok()) return st.status();
  std::string now = FormatTimestamp(clock_.Now());
  for (const auto& s : services) {
    st->Bind(1, now).Bind(2, s);
    ENNAKKO_RETURN_IF_ERROR(st->Run());
  }
  return Status::Ok();
}

}  // namespace ennakko
