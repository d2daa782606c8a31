#include "engine/app/consent_api.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "engine/audit/personal_data_guard.h"

namespace ennakko {

namespace {

using nlohmann::json;

HttpResponse Json(int status, const json& body) {
  return HttpResponse{status, "application/json", body.dump() + "\n"};
}
HttpResponse Error(int status, std::string_view message) { return Json(status, {{"error", message}}); }

// A store failure: busy (the main loop holds the write lock too long) is worth a retry.
HttpResponse StoreError(const Status& st) {
  spdlog::error("consents: store error: {}", st.ToString());
  if (st.code() == StatusCode::kUnavailable) {
    HttpResponse r = Error(503, "the store is busy; retry shortly");
    r.headers["Retry-After"] = "1";
    return r;
  }
  return Error(500, "internal error; see the daemon's log");
}

json ConsentJson(const ConsentRecord& c, TimePoint now) {
  return {{"id", c.id},
          {"purpose", c.purpose},
          {"granted_at", c.granted_at},
          {"expires_at", c.expires_at ? json(*c.expires_at) : json(nullptr)},
          {"revoked_at", c.revoked_at ? json(*c.revoked_at) : json(nullptr)},
          {"source", c.source},
          {"revoked_source", c.revoked_source ? json(*c.revoked_source) : json(nullptr)},
          {"recorded_at", c.recorded_at},
          {"active", c.ActiveAt(now)}};
}

// Parses the body as a JSON object; the error names what is wrong, never the content.
Result<json> Body(const HttpRequest& req) {
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return Status::Invalid("the body must be a JSON object");
  return body;
}

// A string member, or InvalidArgument naming it (`required`: absent is an error).
Result<std::optional<std::string>> Member(const json& body, const char* name, bool required) {
  if (!body.contains(name) || body[name].is_null()) {
    if (required) return Status::Invalid(fmt::format("`{}` is required", name));
    return std::optional<std::string>();
  }
  if (!body[name].is_string()) return Status::Invalid(fmt::format("`{}` must be a string", name));
  return std::optional<std::string>(body[name].get<std::string>());
}

Status UnknownMembers(const json& body, std::initializer_list<const char*> allowed) {
  for (const auto& [key, _] : body.items()) {
    bool known = false;
    for (const char* a : allowed) known = known || key == a;
    // The key is not echoed: a client could put an identity code there.
    if (!known) return Status::Invalid("the body has an unknown member; allowed: " + [&] {
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return list;
    }());
  }
  return Status::Ok();
}

Result<int64_t> IdMember(const json& body) {
  if (!body.contains("id")) return Status::Invalid("`id` is required");
  if (!body["id"].is_number_integer() || body["id"].get<int64_t>() <= 0) {
    return Status::Invalid("`id` must be a positive integer (the id the grant returned)");
  }
  return body["id"].get<int64_t>();
}

HttpResponse InputError(const Status& st) {
  return Error(st.code() == StatusCode::kNotFound ? 404 : 400, st.message());
}

}  // namespace

Result<std::vector<CancelledOffer>> CancelOffersRelyingOn(Db& db, const RuleSet& rules, const ConsentRecord& revoked,
                                                          Date today, TimePoint now) {
  std::vector<CancelledOffer> out;
  // SQLite numbers named parameters by first appearance: ?1 reason, ?2 now, ?3 service, ?4 the
  // revoking resident, ?5 today, ?6 purpose.
  const char* kSubjectIsR = "subject_id = ?4";
  const char* kGuardianLost =
      "subject_id IN (SELECT c.ward_id FROM custody c WHERE c.guardian_id = ?4 "
      "  AND (c.start_date IS NULL OR c.start_date <= ?5) AND (c.end_date IS NULL OR c.end_date >= ?5) "
      "  AND NOT EXISTS (SELECT 1 FROM custody o JOIN consents k ON k.resident_id = o.guardian_id "
      "    WHERE o.ward_id = c.ward_id AND o.guardian_id != ?4 "
      "      AND (o.start_date IS NULL OR o.start_date <= ?5) AND (o.end_date IS NULL OR o.end_date >= ?5) "
      "      AND k.purpose = ?6 AND k.granted_at <= ?2 AND (k.expires_at IS NULL OR k.expires_at > ?2) "
      "      AND (k.revoked_at IS NULL OR k.revoked_at > ?2)))";
  std::string now_text = FormatTimestamp(now);
  std::string reason = fmt::format("consent {} for purpose {} revoked", revoked.id, revoked.purpose);
  for (const CompiledRule& rule : rules.rules()) {
    if (!rule.consent || rule.consent_purpose != revoked.purpose) continue;
    auto st = db.Prepare(fmt::format(
        "UPDATE outbox SET state = 'cancelled', last_error = ?1, updated_at = ?2 "
        "WHERE service = ?3 AND state = 'queued' AND (recipient_id = ?4 OR {}) RETURNING id, subject_id",
        rule.consent_from_guardians ? kGuardianLost : kSubjectIsR));
    if (!st.ok()) return st.status();
    st->Bind(1, reason).Bind(2, now_text).Bind(3, rule.spec->service).Bind(4, revoked.resident_id);
    if (rule.consent_from_guardians) st->Bind(5, today.ToString()).Bind(6, revoked.purpose);
    for (;;) {
      auto row = st->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      out.push_back({st->Int(0), rule.spec->service, st->Int(1)});
    }
  }
  return out;
}

Result<std::unique_ptr<ConsentApi>> ConsentApi::Open(const ConsentApiOptions& options, const Clock& clock,
                                                     AuditLog& audit, const Pseudonymizer& pseudonyms) {
  auto db = Db::Open({.path = options.store_path,
                      .busy_timeout_ms = options.busy_timeout_ms,
                      .synchronous_full = options.synchronous_full});
  if (!db.ok()) return db.status();
  return std::unique_ptr<ConsentApi>(new ConsentApi(options, std::move(*db), clock, audit, pseudonyms));
}

void ConsentApi::SetRules(std::shared_ptr<const RuleSet> rules) {
  std::lock_guard lock(rules_mu_);
  rules_ = std::move(rules);
}

void ConsentApi::Register(HttpServer& server) {
  server.AddRoute("POST", "/api/v1/consents", [this](const HttpRequest& r) { return Grant(r); }, true);
  server.AddRoute("POST", "/api/v1/consents/revoke", [this](const HttpRequest& r) { return Revoke(r); }, true);
  server.AddRoute("POST", "/api/v1/consents/lookup", [this](const HttpRequest& r) { return Lookup(r); }, true);
}

std::string ConsentApi::PseudonymOf(int64_t resident_id) {
  auto st = db_->Prepare("SELECT hetu FROM residents WHERE id = ?");
  if (!st.ok()) return "?";
  st->Bind(1, resident_id);
  auto row = st->Step();
  return row.ok() && *row ? pseudonyms_.Of(st->Text(0)) : "?";
}

void ConsentApi::Changed(int64_t resident_id) {
  if (on_changed_) on_changed_({resident_id});
}

HttpResponse ConsentApi::Grant(const HttpRequest& req) {
  auto body = Body(req);
  if (!body.ok()) return InputError(body.status());
  if (Status st = UnknownMembers(*body, {"identity_code", "purpose", "granted_at", "expires_at", "source"}); !st.ok()) {
    return InputError(st);
  }
  NewConsent c;
  for (auto [name, out] : {std::pair<const char*, std::string*>{"identity_code", &c.identity_code},
                           {"purpose", &c.purpose}, {"source", &c.source}}) {
    auto v = Member(*body, name, true);
    if (!v.ok()) return InputError(v.status());
    *out = **v;
  }
  // Purpose and source go into the audit log, which refuses personal data: refuse it here, clearly.
  for (const std::string* text : {&c.purpose, &c.source}) {
    if (FindPersonalData(*text)) return Error(400, "purpose and source must not contain personal data");
  }
  auto granted = Member(*body, "granted_at", true);
  if (!granted.ok()) return InputError(granted.status());
  auto granted_at = ParseTimestamp(**granted);
  if (!granted_at.ok()) return InputError(Status::Invalid("granted_at: " + granted_at.status().message()));
  c.granted_at = *granted_at;
  auto expires = Member(*body, "expires_at", false);
  if (!expires.ok()) return InputError(expires.status());
  if (*expires) {
    auto expires_at = ParseTimestamp(**expires);
    if (!expires_at.ok()) return InputError(Status::Invalid("expires_at: " + expires_at.status().message()));
    c.expires_at = *expires_at;
  }

  int64_t resident_id = 0;
  json response;
  {
    std::lock_guard lock(mu_);
    Transaction tx(*db_);
    if (!tx.begin_status().ok()) return StoreError(tx.begin_status());
    ConsentStore store(*db_, clock_, options_.consent);
    auto g = store.Grant(c);
    if (!g.ok()) {
      if (g.status().code() == StatusCode::kInvalidArgument || g.status().code() == StatusCode::kNotFound) {
        return InputError(g.status());
      }
      return StoreError(g.status());
    }
    if (!g->created) {
      return Json(409, {{"error", fmt::format("an open consent for this purpose exists (id {}); revoke it first or use it",
                                              g->consent.id)},
                        {"id", g->consent.id}});
    }
    resident_id = g->consent.resident_id;
    json event = {{"consent", g->consent.id}, {"subject", PseudonymOf(resident_id)}, {"purpose", c.purpose},
                  {"source", c.source}, {"granted_at", g->consent.granted_at}};
    if (g->consent.expires_at) event["expires_at"] = *g->consent.expires_at;
    // Audit first, then commit (as the evaluation pass does): never a consent without its event.
    Status audited = audit_.Append("consent.granted", event);
    if (audited.ok()) audited = audit_.Flush();
    if (!audited.ok()) return StoreError(Status::Internal("audit: " + audited.message()));
    if (Status st = tx.Commit(); !st.ok()) return StoreError(st);
    response = ConsentJson(g->consent, clock_.Now());
  }
  spdlog::info("consents: consent {} granted for purpose {}", response["id"].get<int64_t>(), c.purpose);
  Changed(resident_id);
  HttpResponse r = Json(201, response);
  return r;
}

HttpResponse ConsentApi::Revoke(const HttpRequest& req) {
  auto body = Body(req);
  if (!body.ok()) return InputError(body.status());
  if (Status st = UnknownMembers(*body, {"id", "source"}); !st.ok()) return InputError(st);
  auto id = IdMember(*body);
  if (!id.ok()) return InputError(id.status());
  auto source = Member(*body, "source", false);
  if (!source.ok()) return InputError(source.status());
  std::string by = source->value_or("consent-api");
  if (FindPersonalData(by)) return Error(400, "source must not contain personal data");

  std::shared_ptr<const RuleSet> rules;
  {
    std::lock_guard lock(rules_mu_);
    rules = rules_;
  }
  json response;
  int64_t resident_id = 0;
  size_t cancelled_count = 0;
  {
    std::lock_guard lock(mu_);
    Transaction tx(*db_);
    if (!tx.begin_status().ok()) return StoreError(tx.begin_status());
    ConsentStore store(*db_, clock_, options_.consent);
    auto r = store.Revoke(*id, by);
    if (!r.ok()) {
      if (r.status().code() == StatusCode::kInvalidArgument || r.status().code() == StatusCode::kNotFound) {
        return InputError(r.status());
      }
      return StoreError(r.status());
    }
    resident_id = r->consent.resident_id;
    std::vector<CancelledOffer> cancelled;
    if (!r->already_revoked) {
      TimePoint now = clock_.Now();
      if (rules) {
        auto c = CancelOffersRelyingOn(*db_, *rules, r->consent, HelsinkiDay(now), now);
        if (!c.ok()) return StoreError(c.status());
        cancelled = std::move(*c);
      }
      std::string subject = PseudonymOf(resident_id);
      Status audited = audit_.Append("consent.revoked", {{"consent", r->consent.id}, {"subject", subject},
                                                         {"purpose", r->consent.purpose}, {"source", by},
                                                         {"offers_cancelled", cancelled.size()}});
      for (const auto& o : cancelled) {
        if (!audited.ok()) break;
        audited = audit_.Append("offer.cancelled", {{"offer", o.offer_id}, {"service", o.service},
                                                    {"subject", PseudonymOf(o.subject_id)},
                                                    {"reason", "consent revoked"}, {"consent", r->consent.id}});
      }
      if (audited.ok()) audited = audit_.Flush();
      if (!audited.ok()) return StoreError(Status::Internal("audit: " + audited.message()));
      if (Status st = tx.Commit(); !st.ok()) return StoreError(st);
    }
    cancelled_count = cancelled.size();
    response = ConsentJson(r->consent, clock_.Now());
    response["already_revoked"] = r->already_revoked;
    response["offers_cancelled"] = cancelled_count;
    if (r->already_revoked) return Json(200, response);  // nothing changed: no audit, no hook
  }
  spdlog::info("consents: consent {} revoked; {} queued offer(s) cancelled", *id, cancelled_count);
  Changed(resident_id);
  return Json(200, response);
}

HttpResponse ConsentApi::Lookup(const HttpRequest& req) {
  auto body = Body(req);
  if (!body.ok()) return InputError(body.status());
  if (Status st = UnknownMembers(*body, {"identity_code", "id"}); !st.ok()) return InputError(st);
  bool by_code = body->contains("identity_code"), by_id = body->contains("id");
  if (by_code == by_id) return Error(400, "give exactly one of `identity_code` and `id`");
  std::lock_guard lock(mu_);
  ConsentStore store(*db_, clock_, options_.consent);
  TimePoint now = clock_.Now();
  json list = json::array();
  if (by_id) {
    auto id = IdMember(*body);
    if (!id.ok()) return InputError(id.status());
    auto c = store.Get(*id);
    if (!c.ok()) return c.status().code() == StatusCode::kNotFound ? InputError(c.status()) : StoreError(c.status());
    list.push_back(ConsentJson(*c, now));
  } else {
    auto code = Member(*body, "identity_code", true);
    if (!code.ok()) return InputError(code.status());
    auto resident = store.ResidentId(**code);
    if (!resident.ok()) {
      return resident.status().code() == StatusCode::kInternal || resident.status().code() == StatusCode::kUnavailable
                 ? StoreError(resident.status())
                 : InputError(resident.status());
    }
    auto all = store.OfResident(*resident);
    if (!all.ok()) return StoreError(all.status());
    for (const auto& c : *all) list.push_back(ConsentJson(c, now));
  }
  return Json(200, {{"consents", list}});
}

}  // namespace ennakko
