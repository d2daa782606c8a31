// PopulationStore: identity-code corrections (HENKILOTUNNUS_KORJAUS) and postal addresses
// (KOTIMAINEN_POSTIOSOITE). Rare writes, so statements are prepared per call.
//
// Merging two rows (both codes known): the current code's row is the registry's record of the
// person from now on, so its values win wherever both rows hold one; the former row fills the
// gaps. For rows keyed by the resident (custody pairs, placements, consents, decisions) the
// current row's entry wins on a key collision and the former's is dropped. Outbox entries are
// re-pointed, never dropped (they are the record of what was sent); a queued offer whose
// (service, recipient, period) the current row also has queued or sent is cancelled, so the
// person is not offered the same service twice. Address protection is the safe union: protected
// if either row was. Every step is one SQL statement inside the caller's transaction; a table
// that still references the former row makes the final DELETE fail (foreign keys are on), which
// rolls the whole correction back rather than losing data.
#include <fmt/format.h>

#include <set>

#include "engine/store/population.h"

namespace ennakko {

namespace {

Status RunSql(Db& db, std::string_view sql, int64_t a, int64_t b) {
  auto st = db.Prepare(sql);
  if (!st.ok()) return st.status();
  return st->Bind(1, a).Bind(2, b).Run();
}

}  // namespace

Result<IdentityCorrection> PopulationStore::CorrectIdentityCode(std::string_view former,
                                                                const Hetu& current,
                                                                const Provenance& p) {
  IdentityCorrection out;
  if (former == current.code) return out;
  ENNAKKO_RETURN_IF_ERROR(FlushBulk());  // the merge reads and moves fact_sets rows
  auto old_id = FindResident(former);
  if (!old_id.ok()) return old_id.status();
  auto new_id = FindResident(current.code);
  if (!new_id.ok()) return new_id.status();

  auto record_history = [&](int64_t resident, std::optional<int64_t> merged) -> Status {
    auto st = db_.Prepare(
        "INSERT OR IGNORE INTO identity_code_history (former_hetu, resident_id, corrected_to, "
        "merged_from_id, source, change_id, corrected_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (!st.ok()) return st.status();
    ENNAKKO_RETURN_IF_ERROR(st->Bind(1, former)
                                .Bind(2, resident)
                                .Bind(3, current.code)
                                .Bind(4, merged)
                                .Bind(5, p.source)
                                .Bind(6, p.change_id)
                                .Bind(7, p.fetched_at)
                                .Run());
    if (db_.Changes() > 0) out.changed = true;
    // Earlier codes of the former row follow the person.
    return RunSql(db_, "UPDATE identity_code_history SET resident_id = ?2 WHERE resident_id = ?1",
                  merged.value_or(resident), resident);
  };

  if (!*old_id) {
    // Already applied, or a person we never held: keep the history only if we hold the person.
    if (*new_id) {
      out.resident_id = **new_id;
      ENNAKKO_RETURN_IF_ERROR(record_history(**new_id, std::nullopt));
      if (out.changed) out.affected.push_back(**new_id);
    }
    return out;
  }

  if (!*new_id) {
    // Only the former code is known: the row takes the new code.
    const int64_t id = **old_id;
    auto st = db_.Prepare(
        "UPDATE residents SET hetu = ?2, birth_date = ?3, updated_at = ?4 WHERE id = ?1");
    if (!st.ok()) return st.status();
    ENNAKKO_RETURN_IF_ERROR(st->Bind(1, id)
                                .Bind(2, current.code)
                                .Bind(3, current.birth_date.ToString())
                                .Bind(4, p.fetched_at)
                                .Run());
    ENNAKKO_RETURN_IF_ERROR(PutFact(id, "birth_date", true, p));
    ENNAKKO_RETURN_IF_ERROR(record_history(id, std::nullopt));
    out.resident_id = id;
    out.changed = true;
    out.affected.push_back(id);
    return out;
  }

  // Both known: merge the former row (o) into the current one (n).
  const int64_t o = **old_id;
  const int64_t n = **new_id;
  std::set<int64_t> affected = {n};
  for (const char* sql : {"SELECT ward_id FROM custody WHERE guardian_id = ?1",
                          "SELECT guardian_id FROM custody WHERE ward_id = ?1"}) {
    auto q = db_.Prepare(sql);
    if (!q.ok()) return q.status();
    q->Bind(1, o);
    for (;;) {
      auto row = q->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      affected.insert(q->Int(0));
    }
  }
  affected.erase(o);

  constexpr const char* kMerge[] = {
      // Values: the current row's, the former's where the current has none.
      "UPDATE residents AS n SET "
      "death_date = coalesce(n.death_date, f.death_date), "
      "first_names = coalesce(n.first_names, f.first_names), "
      "last_name = coalesce(n.last_name, f.last_name), "
      "municipality = coalesce(n.municipality, f.municipality), "
      "municipality_since = CASE WHEN n.municipality IS NULL THEN f.municipality_since "
      "  ELSE n.municipality_since END, "
      "language = coalesce(n.language, f.language), "
      "address_protected = max(n.address_protected, f.address_protected), "
      "street_address = CASE WHEN max(n.address_protected, f.address_protected) = 1 THEN NULL "
      "  WHEN n.street_address IS NULL AND n.postal_code IS NULL THEN f.street_address "
      "  ELSE n.street_address END, "
      "postal_code = CASE WHEN max(n.address_protected, f.address_protected) = 1 THEN NULL "
      "  WHEN n.street_address IS NULL AND n.postal_code IS NULL THEN f.postal_code "
      "  ELSE n.postal_code END, "
      "post_office = CASE WHEN max(n.address_protected, f.address_protected) = 1 THEN NULL "
      "  WHEN n.street_address IS NULL AND n.postal_code IS NULL THEN f.post_office "
      "  ELSE n.post_office END, "
      "phone = coalesce(n.phone, f.phone), email = coalesce(n.email, f.email) "
      "FROM residents AS f WHERE n.id = ?2 AND f.id = ?1",
      // Provenance moves with the values taken over; the current row's own facts stay.
      // (fact_sets: drop from the former's masks what the current row holds, join rows of a
      // provenance both have, re-point the rest.)
      "UPDATE fact_sets SET facts = facts & ~(SELECT coalesce(sum(facts), 0) FROM fact_sets "
      "WHERE resident_id = ?2) WHERE resident_id = ?1",
      "UPDATE fact_sets SET facts = facts | (SELECT f.facts FROM fact_sets AS f WHERE "
      "f.resident_id = ?1 AND f.provenance_id = fact_sets.provenance_id) WHERE resident_id = ?2 "
      "AND provenance_id IN (SELECT provenance_id FROM fact_sets WHERE resident_id = ?1)",
      "UPDATE OR IGNORE fact_sets SET resident_id = ?2 WHERE resident_id = ?1 AND facts <> 0",
      "UPDATE fact_sets SET facts = facts & ~16 /* address: code 5 */ WHERE resident_id = ?2 AND "
      "EXISTS (SELECT 1 FROM residents WHERE id = ?2 AND address_protected = 1)",
      "DELETE FROM fact_sets WHERE resident_id = ?2 AND facts = 0",
      "INSERT OR IGNORE INTO custody (guardian_id, ward_id, kind, start_date, end_date) "
      "SELECT ?2, ward_id, kind, start_date, end_date FROM custody WHERE guardian_id = ?1 "
      "AND ward_id <> ?2",
      "INSERT OR IGNORE INTO custody (guardian_id, ward_id, kind, start_date, end_date) "
      "SELECT guardian_id, ?2, kind, start_date, end_date FROM custody WHERE ward_id = ?1 "
      "AND guardian_id <> ?2",
      "DELETE FROM custody WHERE guardian_id = ?1 OR ward_id = ?1",
      "UPDATE OR IGNORE placements SET resident_id = ?2 WHERE resident_id = ?1",
      "UPDATE OR IGNORE consents SET resident_id = ?2 WHERE resident_id = ?1",
      // Incomes follow the person: reports are keyed by the register's report id.
      "UPDATE income_reports SET earner_id = ?2 WHERE earner_id = ?1",
      "UPDATE incomes SET earner_id = ?2 WHERE earner_id = ?1",
      "UPDATE OR IGNORE incomes_fetched SET resident_id = ?2 WHERE resident_id = ?1",
      "INSERT OR IGNORE INTO postal_addresses (resident_id, street, postal_code, post_office) "
      "SELECT ?2, street, postal_code, post_office FROM postal_addresses WHERE resident_id = ?1 "
      "AND NOT EXISTS (SELECT 1 FROM residents WHERE id = ?2 AND address_protected = 1)",
      // Offers: a queued offer the current row also has is cancelled; all are re-pointed.
      "UPDATE outbox SET state = 'cancelled', last_error = 'identity code corrected: duplicate "
      "of the offer to the current code' WHERE state = 'queued' AND (subject_id = ?1 OR "
      "recipient_id = ?1) AND EXISTS (SELECT 1 FROM outbox AS x WHERE x.service = outbox.service "
      "AND x.period = outbox.period AND x.state <> 'cancelled' AND "
      "x.subject_id = CASE WHEN outbox.subject_id = ?1 THEN ?2 ELSE outbox.subject_id END AND "
      "x.recipient_id = CASE WHEN outbox.recipient_id = ?1 THEN ?2 ELSE outbox.recipient_id END)",
      "UPDATE outbox SET decision_id = (SELECT n.id FROM decisions AS n JOIN decisions AS f ON "
      "n.service = f.service AND n.period = f.period WHERE f.id = outbox.decision_id AND "
      "n.subject_id = ?2) WHERE decision_id IN (SELECT id FROM decisions WHERE subject_id = ?1) "
      "AND EXISTS (SELECT 1 FROM decisions AS n JOIN decisions AS f ON n.service = f.service AND "
      "n.period = f.period WHERE f.id = outbox.decision_id AND n.subject_id = ?2)",
      "UPDATE OR IGNORE decisions SET subject_id = ?2 WHERE subject_id = ?1",
      "UPDATE outbox SET subject_id = ?2 WHERE subject_id = ?1",
      "UPDATE outbox SET recipient_id = ?2 WHERE recipient_id = ?1",
      // What collided and was not taken over goes with the former row.
      "DELETE FROM fact_sets WHERE resident_id = ?1",
      "DELETE FROM placements WHERE resident_id = ?1",
      "DELETE FROM consents WHERE resident_id = ?1",
      "DELETE FROM decisions WHERE subject_id = ?1",
      "DELETE FROM postal_addresses WHERE resident_id = ?1",
      // Protected after the merge (either row was): no postal address, whichever row it came from.
      "DELETE FROM postal_addresses WHERE resident_id = ?2 AND EXISTS "
      "(SELECT 1 FROM residents WHERE id = ?2 AND address_protected = 1)",
      "DELETE FROM incomes_fetched WHERE resident_id = ?1",
  };
  for (const char* sql : kMerge) {
    Status st = RunSql(db_, sql, o, n);
    if (!st.ok()) {
      return Status::Internal(fmt::format("identity-code merge: {}", st.message()));
    }
  }
  ENNAKKO_RETURN_IF_ERROR(record_history(n, o));
  {
    auto st = db_.Prepare("UPDATE residents SET updated_at = ?2 WHERE id = ?1");
    if (!st.ok()) return st.status();
    ENNAKKO_RETURN_IF_ERROR(st->Bind(1, n).Bind(2, p.fetched_at).Run());
  }
  ENNAKKO_RETURN_IF_ERROR(PutFact(n, "identity_code", true, p));
  Status removed = RunSql(db_, "DELETE FROM residents WHERE id = ?1 AND ?2 > 0", o, n);
  if (!removed.ok()) {
    return Status::Internal(fmt::format(
        "identity-code merge: the former row is still referenced: {}", removed.message()));
  }
  out.resident_id = n;
  out.changed = true;
  out.merged_id = o;
  out.affected.assign(affected.begin(), affected.end());
  return out;
}

Result<std::vector<std::string>> PopulationStore::FormerIdentityCodes(int64_t resident_id) {
  auto q = db_.Prepare(
      "SELECT former_hetu FROM identity_code_history WHERE resident_id = ?1 "
      "ORDER BY corrected_at, former_hetu");
  if (!q.ok()) return q.status();
  q->Bind(1, resident_id);
  std::vector<std::string> out;
  for (;;) {
    auto row = q->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(q->Text(0));
  }
  return out;
}

Result<std::optional<PostalAddress>> PopulationStore::GetPostalAddress(int64_t resident_id) {
  auto q = db_.Prepare(
      "SELECT street, postal_code, post_office FROM postal_addresses WHERE resident_id = ?1");
  if (!q.ok()) return q.status();
  q->Bind(1, resident_id);
  auto row = q->Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<PostalAddress>();
  return std::optional<PostalAddress>(PostalAddress{q->Text(0), q->Text(1), q->Text(2)});
}

Result<bool> PopulationStore::SetPostalAddress(int64_t resident_id,
                                               const std::optional<PostalAddress>& address,
                                               const Provenance& p) {
  auto resident = GetResident(resident_id);
  if (!resident.ok()) return resident.status();
  if (!*resident) return Status::NotFound(fmt::format("no resident with id {}", resident_id));
  auto before = GetPostalAddress(resident_id);
  if (!before.ok()) return before.status();
  const std::optional<PostalAddress> after =
      (*resident)->address_protected ? std::nullopt : address;
  if (*before == after) return false;
  if (after) {
    auto st = db_.Prepare(
        "INSERT OR REPLACE INTO postal_addresses (resident_id, street, postal_code, post_office) "
        "VALUES (?1, ?2, ?3, ?4)");
    if (!st.ok()) return st.status();
    ENNAKKO_RETURN_IF_ERROR(st->Bind(1, resident_id)
                                .Bind(2, after->street)
                                .Bind(3, after->postal_code)
                                .Bind(4, after->post_office)
                                .Run());
  } else {
    ENNAKKO_RETURN_IF_ERROR(RunSql(db_, "DELETE FROM postal_addresses WHERE resident_id = ?1 AND ?2 = ?2",
                                   resident_id, 0));
  }
  ENNAKKO_RETURN_IF_ERROR(PutFact(resident_id, "postal_address", after.has_value(), p));
  return true;
}

}  // namespace ennakko
