// Shared fixture of the replies tests: an in-memory store with residents, the shipped rules and
// helpers to put an offer into a given state. Test-only.
#pragma once

#include <catch2/catch.hpp>

#include "engine/dispatch/offer_lifecycle.h"
#include "engine/store/migrations.h"

namespace ennakko::testing {

inline std::shared_ptr<const RuleSet> ShippedRules() {
  Diagnostics diags;
  auto sources = LoadRuleSources(ENNAKKO_SOURCE_ROOT "/rules", diags);
  REQUIRE(sources.ok());
  return RuleSet::Compile(*sources).value();
}

struct RepliesFixture {
  std::unique_ptr<Db> db = OpenStore({.path = ":memory:"}).value();
  FakeClock clock{std::chrono::sys_days{std::chrono::year{2026} / 11 / 22} + std::chrono::hours{8}};
  std::vector<std::pair<std::string, nlohmann::json>> audit;
  std::shared_ptr<const RuleSet> rules = ShippedRules();
  AuditFn audit_fn = [this](std::string_view type, const nlohmann::json& f) { audit.emplace_back(std::string(type), f); };
  PseudonymFn pseudonym_fn = [](std::string_view code) { return "p-" + std::string(code.substr(0, 2)); };
  RuleLookupFn rule_for = [this](const std::string& service) -> const RuleSpec* {
    for (const auto& r : rules->sources().rules) {
      if (r.service == service) return &r;
    }
    return nullptr;
  };
  OfferLifecycle lifecycle{*db, clock, audit_fn, pseudonym_fn};

  RepliesFixture() {
    REQUIRE(db->Exec(R"(
      INSERT INTO residents (id, hetu, first_names, language, phone, updated_at) VALUES
        (1, '010190-998W', 'Aino', 'fi', '+358500000001', 'x'),
        (2, '020290-998U', 'Erik', 'sv', '+358500000002', 'x'),
        (3, '050520A998N', 'Lumi Maria', 'fi', NULL, 'x'),
        (4, '060620A998P', 'Otso', 'fi', NULL, 'x');)").ok());
  }
  // An offer about `subject` to `recipient`, in `state` (sent_at set unless queued).
  int64_t Offer(int64_t recipient, const char* state, int64_t subject = 3, const char* lang = "fi") {
    auto st = db->Prepare(
        "INSERT INTO outbox (idem_key, service, subject_id, recipient_id, period, language, state, channel, "
        "next_attempt_at, created_at, updated_at, sent_at) VALUES (?, 'preschool-offer', ?, ?, '2026', ?, ?, 'sms', "
        "?, ?, ?, ?)");
    std::string now = FormatTimestamp(clock.Now());
    st->Bind(1, "key-" + std::to_string(recipient) + "-" + std::to_string(subject) + "-" + state)
        .Bind(2, subject).Bind(3, recipient).Bind(4, lang).Bind(5, state).Bind(6, now).Bind(7, now).Bind(8, now);
    if (std::string(state) == "queued") st->BindNull(9); else st->Bind(9, now);
    REQUIRE(st->Run().ok());
    return db->LastInsertRowId();
  }
  std::string Column(int64_t id, const char* column) {
    auto st = db->Prepare(std::string("SELECT COALESCE(") + column + ", '') FROM outbox WHERE id = ?");
    st->Bind(1, id);
    REQUIRE(st->Step().value());
    return st->Text(0);
  }
  std::string State(int64_t id) { return Column(id, "state"); }
  int64_t Count(const std::string& sql) {
    auto st = db->Prepare(sql);
    REQUIRE(st.ok());
    REQUIRE(st->Step().value());
    return st->Int(0);
  }
  bool Audited(std::string_view type) {
    for (const auto& [t, f] : audit) {
      if (t == type) return true;
    }
    return false;
  }
};

}  // namespace ennakko::testing
