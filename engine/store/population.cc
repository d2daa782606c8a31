#include "engine/store/population.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <memory>

namespace ennakko {

namespace {

// fact_names.code of each fact name (migration 7 fixes them).
constexpr std::array<std::string_view, 11> kFactCodes = {
    "birth_date", "death_date", "name",     "municipality", "address",   "address_protected",
    "language",   "phone",      "email",    "guardians",    "placements"};

// The fact's bit in fact_sets.facts: 1 << (code - 1).
constexpr int64_t FactBit(std::string_view name) {
  for (size_t i = 0; i < kFactCodes.size(); ++i) {
    if (kFactCodes[i] == name) return int64_t{1} << i;
  }
  return 0;  // unreachable: the store names only the facts above
}

constexpr std::string_view kResidentColumns =
    "id, hetu, birth_date, death_date, first_names, last_name, municipality, municipality_since, "
    "language, street_address, postal_code, post_office, address_protected, phone, email";

std::optional<Date> OptDate(const Stmt& q, int col) {
  if (q.IsNull(col)) return std::nullopt;
  return Date::Parse(q.Text(col));
}

void BindDate(Stmt& s, int idx, const std::optional<Date>& d) {
  if (d) {
    s.Bind(idx, d->ToString());
  } else {
    s.BindNull(idx);
  }
}

// A resident's dates as text, kept alive while a statement that bound them without copying runs.
struct DateTexts {
  std::string birth, death, since;
};

// Binds `d` as text without copying it: `text` keeps it.
void BindDateNoCopy(Stmt& s, int idx, const std::optional<Date>& d, std::string& text) {
  if (d) {
    text = d->ToString();
    s.BindNoCopy(idx, text);
  } else {
    s.BindNull(idx);
  }
}

// Binds the mutable columns death_date .. email to ?first .. ?first+11. Nothing is copied: `r`
// and `dates` must outlive the statement's run.
void BindResidentColumns(Stmt& s, int first, const Resident& r, DateTexts& dates) {
  BindDateNoCopy(s, first, r.death_date, dates.death);
  if (r.name) {
    s.BindNoCopy(first + 1, r.name->first_names).BindNoCopy(first + 2, r.name->last_name);
  } else {
    s.BindNull(first + 1).BindNull(first + 2);
  }
  if (r.residence) {
    s.BindNoCopy(first + 3, r.residence->municipality);
    BindDateNoCopy(s, first + 4, r.residence->since, dates.since);
  } else {
    s.BindNull(first + 3).BindNull(first + 4);
  }
  s.BindNoCopy(first + 5, r.language);
  if (r.address) {
    s.BindNoCopy(first + 6, r.address->street)
        .BindNoCopy(first + 7, r.address->postal_code)
        .BindNoCopy(first + 8, r.address->post_office);
  } else {
    s.BindNull(first + 6).BindNull(first + 7).BindNull(first + 8);
  }
  s.Bind(first + 9, int64_t{r.address_protected ? 1 : 0});
  s.BindNoCopy(first + 10, r.phone).BindNoCopy(first + 11, r.email);
}

// The resident after `u`. Protection is applied before the address so that the invariant
// "no address while protected" holds whatever order the record listed its groups in.
Resident Apply(Resident r, const ResidentUpdate& u) {
  if (u.name.touched()) r.name = u.name.value();
  if (u.death_date.touched()) r.death_date = u.death_date.value();
  if (u.residence.touched()) r.residence = u.residence.value();
  if (u.address_protected) r.address_protected = *u.address_protected;
  if (r.address_protected) {
    r.address.reset();
  } else if (u.address.touched()) {
    r.address = u.address.value();
  }
  if (u.language.touched()) r.language = u.language.value();
  if (u.phone.touched()) r.phone = u.phone.value();
  if (u.email.touched()) r.email = u.email.value();
  return r;
}

// Runs a query to completion, calling `row` for each row, and leaves the statement reset.
template <typename F>
Status ForEachRow(Stmt& q, F&& row) {
  for (;;) {
    auto more = q.Step();
    if (!more.ok()) {
      q.Reset();
      return more.status();
    }
    if (!*more) break;
    row(q);
  }
  q.Reset();
  return Status::Ok();
}

}  // namespace

struct PopulationStore::Statements {
  Stmt by_hetu, by_id, insert, update, put_fact, delete_fact;
  Stmt get_custody, put_custody, delete_custody, guardians_of, wards_of;
  Stmt get_placement, put_placement, delete_placement, placements_of;
  Stmt quarantine, count_quarantined, get_cursor, set_cursor, count_alive, count_residents;
  Stmt put_provenance, id_by_hetu, drop_empty_facts, new_facts;
};

// Bulk mode's collected rows (BeginBulk). The buffers keep their strings' capacity between
// flushes; a multi-row INSERT is prepared per row count the first time it is needed.
struct PopulationStore::BulkRows {
  static constexpr size_t kRows = 64;
  bool active = false;
  int64_t next_provenance_id = 1;
  size_t provenance_count = 0;
  std::array<int64_t, kRows> provenance_ids{};
  std::array<Provenance, kRows> provenance;
  std::vector<std::array<int64_t, 3>> facts;  // resident_id, provenance_id, facts
  std::array<std::optional<Stmt>, kRows + 1> insert_provenance;  // by row count
  std::array<std::optional<Stmt>, kRows + 1> insert_facts;
};

namespace {

// "INSERT INTO <head> VALUES (?, ..), (?, ..)": `rows` rows of `columns` parameters.
std::string MultiRowInsert(std::string_view head, int columns, size_t rows) {
  std::string row = "(?";
  for (int i = 1; i < columns; ++i) row += ", ?";
  row += ")";
  std::string sql = fmt::format("INSERT INTO {} VALUES {}", head, row);
  for (size_t i = 1; i < rows; ++i) (sql += ", ") += row;
  return sql;
}

}  // namespace

PopulationStore::PopulationStore(Db& db, std::unique_ptr<Statements> s)
    : db_(db), s_(std::move(s)) {}
PopulationStore::~PopulationStore() = default;

Result<std::unique_ptr<PopulationStore>> PopulationStore::Open(Db& db) {
  Status error;
  auto prep = [&](std::string_view sql) -> Stmt {
    auto st = db.Prepare(sql);
    if (!st.ok()) {
      if (error.ok()) error = st.status();
      // A placeholder that is never run: Open returns the error below.
      return std::move(db.Prepare("SELECT 1").value());
    }
    return std::move(st).value();
  };
  std::string by_hetu = fmt::format("SELECT {} FROM residents WHERE hetu = ?1", kResidentColumns);
  std::string by_id = fmt::format("SELECT {} FROM residents WHERE id = ?1", kResidentColumns);
  auto s = std::unique_ptr<Statements>(new Statements{
      prep(by_hetu),
      prep(by_id),
      prep("INSERT INTO residents (hetu, birth_date, death_date, first_names, last_name, "
           "municipality, municipality_since, language, street_address, postal_code, post_office, "
           "address_protected, phone, email, updated_at) "
           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) "
           "ON CONFLICT (hetu) DO NOTHING"),
      prep("UPDATE residents SET death_date = ?2, first_names = ?3, last_name = ?4, "
           "municipality = ?5, municipality_since = ?6, language = ?7, street_address = ?8, "
           "postal_code = ?9, post_office = ?10, address_protected = ?11, phone = ?12, "
           "email = ?13, updated_at = ?14 WHERE id = ?1"),
      prep("INSERT INTO fact_sets (resident_id, provenance_id, facts) VALUES (?1, ?2, ?3) "
           "ON CONFLICT (resident_id, provenance_id) DO UPDATE SET facts = facts | excluded.facts"),
      prep("UPDATE fact_sets SET facts = facts & ~?2 WHERE resident_id = ?1 AND facts & ?2 <> 0"),
      prep(
          "SELECT kind, start_date, end_date FROM custody WHERE guardian_id = ?1 AND ward_id = ?2"),
      // Writes only a new or different row (Changes() says which): one statement, not a read
      // and a write.
      prep("INSERT INTO custody (guardian_id, ward_id, kind, start_date, end_date) "
           "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (guardian_id, ward_id) DO UPDATE SET "
           "kind = excluded.kind, start_date = excluded.start_date, end_date = excluded.end_date "
           "WHERE kind IS NOT excluded.kind OR start_date IS NOT excluded.start_date OR "
           "end_date IS NOT excluded.end_date"),
      prep("DELETE FROM custody WHERE guardian_id = ?1 AND ward_id = ?2"),
      prep("SELECT guardian_id, kind, start_date, end_date FROM custody WHERE ward_id = ?1 "
           "ORDER BY guardian_id"),
      prep("SELECT ward_id FROM custody WHERE guardian_id = ?1 ORDER BY ward_id"),
      prep("SELECT end_date FROM placements WHERE resident_id = ?1 AND kind = ?2 AND "
           "start_date = ?3"),
      prep("INSERT OR REPLACE INTO placements (resident_id, kind, start_date, end_date) "
           "VALUES (?1, ?2, ?3, ?4)"),
      prep("DELETE FROM placements WHERE resident_id = ?1 AND kind = ?2 AND start_date = ?3"),
      prep("SELECT kind, start_date, end_date FROM placements WHERE resident_id = ?1 "
           "ORDER BY start_date, kind"),
      prep("INSERT OR IGNORE INTO quarantine (connector, batch, line, reason, record, "
           "quarantined_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
      prep("SELECT count(*) FROM quarantine WHERE connector = ?1"),
      prep("SELECT cursor FROM connector_cursors WHERE connector = ?1"),
      prep("INSERT INTO connector_cursors (connector, cursor, updated_at) VALUES (?1, ?2, ?3) "
           "ON CONFLICT (connector) DO UPDATE SET cursor = excluded.cursor, "
           "updated_at = excluded.updated_at"),
      prep("SELECT count(*) FROM residents WHERE municipality = ?1 AND death_date IS NULL"),
      prep("SELECT count(*) FROM residents"),
      prep("INSERT INTO provenance (source, change_id, fetched_at) VALUES (?1, ?2, ?3)"),
      prep("SELECT id FROM residents WHERE hetu = ?1"),
      prep("DELETE FROM fact_sets WHERE resident_id = ?1 AND facts = 0"),
      prep("INSERT INTO fact_sets (resident_id, provenance_id, facts) VALUES (?1, ?2, ?3)"),
  });
  if (!error.ok()) return error;
  return std::unique_ptr<PopulationStore>(new PopulationStore(db, std::move(s)));
}

Result<std::optional<Resident>> PopulationStore::LoadResident(Stmt& q) {
  std::optional<Resident> out;
  Status st = ForEachRow(q, [&](const Stmt& r) {
    Resident x;
    x.id = r.Int(0);
    x.hetu = r.Text(1);
    x.birth_date = OptDate(r, 2).value_or(Date{});
    x.death_date = OptDate(r, 3);
    if (!r.IsNull(4) || !r.IsNull(5)) x.name = PersonName{r.Text(4), r.Text(5)};
    if (!r.IsNull(6)) x.residence = Residence{r.Text(6), OptDate(r, 7)};
    x.language = r.OptText(8);
    if (!r.IsNull(9) || !r.IsNull(10) || !r.IsNull(11)) {
      x.address = PostalAddress{r.Text(9), r.Text(10), r.Text(11)};
    }
    x.address_protected = r.Int(12) != 0;
    x.phone = r.OptText(13);
    x.email = r.OptText(14);
    out = std::move(x);
  });
  if (!st.ok()) return st;
  return out;
}

Result<std::optional<int64_t>> PopulationStore::FindResident(std::string_view hetu) {
  std::optional<int64_t> out;
  s_->id_by_hetu.Bind(1, hetu);
  ENNAKKO_RETURN_IF_ERROR(ForEachRow(s_->id_by_hetu, [&](const Stmt& r) { out = r.Int(0); }));
  return out;
}

Result<std::optional<Resident>> PopulationStore::GetResident(int64_t id) {
  s_->by_id.Bind(1, id);
  return LoadResident(s_->by_id);
}

Result<int64_t> PopulationStore::ProvenanceId(const Provenance& p) {
  // One provenance row per record line: the facts a record writes share it. The cached id is
  // reused only if no rollback has run since the row was added (it may have taken the row away).
  if (last_provenance_id_ != 0 && last_provenance_rollbacks_ == db_.rollbacks() &&
      last_provenance_.change_id == p.change_id && last_provenance_.source == p.source &&
      last_provenance_.fetched_at == p.fetched_at) {
    return last_provenance_id_;
  }
  if (bulk_ && bulk_->active) {
    BulkRows& b = *bulk_;
    if (b.provenance_count == BulkRows::kRows) ENNAKKO_RETURN_IF_ERROR(FlushBulkProvenance());
    const int64_t id = b.next_provenance_id++;
    b.provenance_ids[b.provenance_count] = id;
    Provenance& row = b.provenance[b.provenance_count++];
    row.source = p.source;  // assignments: the strings keep their capacity
    row.change_id = p.change_id;
    row.fetched_at = p.fetched_at;
    last_provenance_ = p;
    last_provenance_id_ = id;
    last_provenance_rollbacks_ = db_.rollbacks();
    return id;
  }
  ENNAKKO_RETURN_IF_ERROR(s_->put_provenance.BindNoCopy(1, p.source)
                              .BindNoCopy(2, p.change_id)
                              .BindNoCopy(3, p.fetched_at)
                              .Run());
  last_provenance_ = p;
  last_provenance_id_ = db_.LastInsertRowId();
  last_provenance_rollbacks_ = db_.rollbacks();
  return last_provenance_id_;
}

Status PopulationStore::SetFacts(int64_t id, int64_t put, int64_t clear, const Provenance& p,
                                 bool created) {
  if (created) {  // no rows yet: one insert
    if (put == 0) return Status::Ok();
    auto ref = ProvenanceId(p);
    if (!ref.ok()) return ref.status();
    if (bulk_ && bulk_->active) {
      if (bulk_->facts.size() == BulkRows::kRows) ENNAKKO_RETURN_IF_ERROR(FlushBulkFacts());
      bulk_->facts.push_back({id, *ref, put});
      return Status::Ok();
    }
    return s_->new_facts.Bind(1, id).Bind(2, *ref).Bind(3, put).Run();
  }
  // Take the facts off the rows of their earlier provenance, drop rows left empty, then record
  // the new provenance of the facts that hold a value.
  if ((put | clear) == 0) return Status::Ok();
  if (auto done = SetCollectedFacts(id, put, clear, p); !done.ok() || *done) return done.status();
  ENNAKKO_RETURN_IF_ERROR(s_->delete_fact.Bind(1, id).Bind(2, put | clear).Run());
  if (db_.Changes() > 0) ENNAKKO_RETURN_IF_ERROR(s_->drop_empty_facts.Bind(1, id).Run());
  if (put == 0) return Status::Ok();
  auto ref = ProvenanceId(p);
  if (!ref.ok()) return ref.status();
  return s_->put_fact.Bind(1, id).Bind(2, *ref).Bind(3, put).Run();
}

Status PopulationStore::PutFact(int64_t id, std::string_view name, bool present,
                                const Provenance& p) {
  const int64_t bit = FactBit(name);
  return SetFacts(id, present ? bit : 0, present ? 0 : bit, p, /*created=*/false);
}

Status PopulationStore::WriteFacts(const Resident& a, const Resident& b, const Provenance& p,
                                   bool created) {
  // One fact_sets row per record: a snapshot record's facts share their provenance.
  // The bits as constants: looking the names up cost ~500 instructions a record.
  static constexpr int64_t kBirthDate = FactBit("birth_date"), kDeathDate = FactBit("death_date"),
                           kName = FactBit("name"), kMunicipality = FactBit("municipality"),
                           kAddress = FactBit("address"),
                           kProtected = FactBit("address_protected"),
                           kLanguage = FactBit("language"), kPhone = FactBit("phone"),
                           kEmail = FactBit("email");
  int64_t put = created ? kBirthDate : 0, clear = 0;
  auto diff = [&](bool changed, int64_t bit, bool present) {
    if (changed) (present ? put : clear) |= bit;
  };
  diff(a.death_date != b.death_date, kDeathDate, b.death_date.has_value());
  diff(a.name != b.name, kName, b.name.has_value());
  diff(a.residence != b.residence, kMunicipality, b.residence.has_value());
  diff(a.address != b.address, kAddress, b.address.has_value());
  diff(a.address_protected != b.address_protected, kProtected, b.address_protected);
  diff(a.language != b.language, kLanguage, b.language.has_value());
  diff(a.phone != b.phone, kPhone, b.phone.has_value());
  diff(a.email != b.email, kEmail, b.email.has_value());
  return SetFacts(b.id, put, clear, p, created);
}

Result<bool> PopulationStore::UpdateRow(const Resident& before, const ResidentUpdate& u,
                                        const Provenance& p) {
  Resident after = Apply(before, u);
  if (after == before) return false;
  if (after.address_protected && !before.address_protected) {
    // Turvakielto: the postal address goes with the permanent one.
    auto cleared = SetPostalAddress(before.id, std::nullopt, p);
    if (!cleared.ok()) return cleared.status();
  }
  Stmt& s = s_->update;
  s.Bind(1, before.id);
  DateTexts dates;
  BindResidentColumns(s, 2, after, dates);
  s.Bind(14, p.fetched_at);
  ENNAKKO_RETURN_IF_ERROR(s.Run());
  ENNAKKO_RETURN_IF_ERROR(WriteFacts(before, after, p, /*created=*/false));
  return true;
}

Result<bool> PopulationStore::UpdateResident(int64_t id, const ResidentUpdate& u,
                                             const Provenance& p) {
  auto found = GetResident(id);
  if (!found.ok()) return found.status();
  if (!*found) return Status::NotFound(fmt::format("no resident with id {}", id));
  return UpdateRow(**found, u, p);
}

Result<UpsertOutcome> PopulationStore::UpsertResident(const Hetu& hetu, const ResidentUpdate& u,
                                                      const Provenance& p) {
  // Insert first: in a snapshot nearly everyone is new, and a failed insert costs no more than
  // the lookup it replaces.
  Resident blank;
  blank.hetu = hetu.code;
  blank.birth_date = hetu.birth_date;
  Resident r = Apply(blank, u);
  Stmt& s = s_->insert;
  DateTexts dates;
  dates.birth = r.birth_date.ToString();
  s.BindNoCopy(1, r.hetu).BindNoCopy(2, dates.birth);
  BindResidentColumns(s, 3, r, dates);
  s.BindNoCopy(15, p.fetched_at);
  ENNAKKO_RETURN_IF_ERROR(s.Run());
  if (db_.Changes() == 1) {
    r.id = blank.id = db_.LastInsertRowId();
    ENNAKKO_RETURN_IF_ERROR(WriteFacts(blank, r, p, /*created=*/true));
    return UpsertOutcome{r.id, true, true};
  }
  s_->by_hetu.Bind(1, hetu.code);
  auto found = LoadResident(s_->by_hetu);
  if (!found.ok()) return found.status();
  if (!*found) return Status::Internal("resident vanished between insert and lookup");
  auto changed = UpdateRow(**found, u, p);
  if (!changed.ok()) return changed.status();
  return UpsertOutcome{(*found)->id, false, *changed};
}

// --- bulk mode -----------------------------------------------------------------------------------

Status PopulationStore::BeginBulk() {
  if (!bulk_) bulk_ = std::make_unique<BulkRows>();
  AbandonBulk();
  auto q = db_.Prepare("SELECT coalesce(max(id), 0) + 1 FROM provenance");
  if (!q.ok()) return q.status();
  ENNAKKO_RETURN_IF_ERROR(
      ForEachRow(*q, [&](const Stmt& r) { bulk_->next_provenance_id = r.Int(0); }));
  bulk_->active = true;
  return Status::Ok();
}

Status PopulationStore::EndBulk() {
  if (!bulk_ || !bulk_->active) return Status::Ok();
  Status st = FlushBulk();
  bulk_->active = false;
  return st;
}

void PopulationStore::AbandonBulk() {
  if (!bulk_) return;
  bulk_->active = false;
  bulk_->provenance_count = 0;
  bulk_->facts.clear();
  last_provenance_id_ = 0;  // it may name a row that was never inserted
}

Status PopulationStore::FlushBulk() {
  if (!bulk_ || !bulk_->active) return Status::Ok();
  ENNAKKO_RETURN_IF_ERROR(FlushBulkProvenance());
  return FlushBulkFacts();
}

Result<bool> PopulationStore::SetCollectedFacts(int64_t id, int64_t put, int64_t clear,
                                                const Provenance& p) {
  if (!bulk_ || !bulk_->active) return false;
  auto& facts = bulk_->facts;
  auto of_id = [&](const std::array<int64_t, 3>& row) { return row[0] == id; };
  if (std::find_if(facts.begin(), facts.end(), of_id) == facts.end()) return false;
  // The resident was created since the collected rows were last inserted (the first row collected
  // for a resident is its creation's; inserting empties the collection), so all its fact_sets
  // rows are here: SetFacts's statements, done on the collection.
  if (put != 0 && facts.size() == BulkRows::kRows) {
    // No room for a row: insert the collection and let SetFacts run its statements.
    ENNAKKO_RETURN_IF_ERROR(FlushBulk());
    return false;
  }
  for (auto& row : facts) {
    if (row[0] == id) row[2] &= ~(put | clear);
  }
  std::erase_if(facts, [&](const std::array<int64_t, 3>& row) { return of_id(row) && row[2] == 0; });
  if (put == 0) return true;
  auto ref = ProvenanceId(p);
  if (!ref.ok()) return ref.status();
  for (auto& row : facts) {
    if (row[0] == id && row[1] == *ref) {
      row[2] |= put;
      return true;
    }
  }
  facts.push_back({id, *ref, put});
  return true;
}

Status PopulationStore::FlushBulkProvenance() {
  BulkRows& b = *bulk_;
  const size_t n = b.provenance_count;
  if (n == 0) return Status::Ok();
  if (!b.insert_provenance[n]) {
    auto st = db_.Prepare(
        MultiRowInsert("provenance (id, source, change_id, fetched_at)", 4, n));
    if (!st.ok()) return st.status();
    b.insert_provenance[n] = std::move(st).value();
  }
  Stmt& s = *b.insert_provenance[n];
  for (size_t i = 0; i < n; ++i) {
    const int k = static_cast<int>(4 * i);
    s.Bind(k + 1, b.provenance_ids[i])
        .BindNoCopy(k + 2, b.provenance[i].source)
        .BindNoCopy(k + 3, b.provenance[i].change_id)
        .BindNoCopy(k + 4, b.provenance[i].fetched_at);
  }
  ENNAKKO_RETURN_IF_ERROR(s.Run());
  b.provenance_count = 0;
  return Status::Ok();
}

Status PopulationStore::FlushBulkFacts() {
  BulkRows& b = *bulk_;
  const size_t n = b.facts.size();
  if (n == 0) return Status::Ok();
  if (!b.insert_facts[n]) {
    auto st = db_.Prepare(MultiRowInsert("fact_sets (resident_id, provenance_id, facts)", 3, n));
    if (!st.ok()) return st.status();
    b.insert_facts[n] = std::move(st).value();
  }
  Stmt& s = *b.insert_facts[n];
  for (size_t i = 0; i < n; ++i) {
    const int k = static_cast<int>(3 * i);
    s.Bind(k + 1, b.facts[i][0]).Bind(k + 2, b.facts[i][1]).Bind(k + 3, b.facts[i][2]);
  }
  ENNAKKO_RETURN_IF_ERROR(s.Run());
  b.facts.clear();
  return Status::Ok();
}

// --- custody -------------------------------------------------------------------------------------

Result<std::optional<Custody>> PopulationStore::GetCustody(int64_t guardian_id, int64_t ward_id) {
  std::optional<Custody> out;
  Stmt& q = s_->get_custody;
  q.Bind(1, guardian_id).Bind(2, ward_id);
  ENNAKKO_RETURN_IF_ERROR(ForEachRow(q, [&](const Stmt& r) {
    out = Custody{guardian_id, ward_id, r.OptText(0), OptDate(r, 1), OptDate(r, 2)};
  }));
  return out;
}

Status PopulationStore::WriteCustody(const Custody& c) {
  Stmt& s = s_->put_custody;
  s.Bind(1, c.guardian_id).Bind(2, c.ward_id).Bind(3, c.kind);
  BindDate(s, 4, c.start);
  BindDate(s, 5, c.end);
  return s.Run();
}

Result<bool> PopulationStore::UpsertCustody(const Custody& c, const Provenance& p,
                                            GuardiansFact fact) {
  ENNAKKO_RETURN_IF_ERROR(WriteCustody(c));
  if (db_.Changes() == 0) return false;  // the same row was there
  if (fact == GuardiansFact::kWrite) ENNAKKO_RETURN_IF_ERROR(PutGuardiansFact(c.ward_id, p));
  return true;
}

Result<bool> PopulationStore::EndCustody(int64_t guardian_id, int64_t ward_id, Date end,
                                         const Provenance& p, GuardiansFact fact) {
  auto old = GetCustody(guardian_id, ward_id);
  if (!old.ok()) return old.status();
  if (!*old || (*old)->end == end) return false;
  Custody c = **old;
  c.end = end;
  ENNAKKO_RETURN_IF_ERROR(WriteCustody(c));
  if (fact == GuardiansFact::kWrite) ENNAKKO_RETURN_IF_ERROR(PutGuardiansFact(ward_id, p));
  return true;
}

Result<bool> PopulationStore::RemoveCustody(int64_t guardian_id, int64_t ward_id,
                                            const Provenance& p, GuardiansFact fact) {
  ENNAKKO_RETURN_IF_ERROR(s_->delete_custody.Bind(1, guardian_id).Bind(2, ward_id).Run());
  if (db_.Changes() == 0) return false;
  if (fact == GuardiansFact::kWrite) ENNAKKO_RETURN_IF_ERROR(PutGuardiansFact(ward_id, p));
  return true;
}

Status PopulationStore::PutGuardiansFact(int64_t ward_id, const Provenance& p) {
  static constexpr int64_t kGuardians = FactBit("guardians");
  return SetFacts(ward_id, kGuardians, 0, p, /*created=*/false);
}

Result<std::vector<Custody>> PopulationStore::GuardiansOf(int64_t ward_id) {
  std::vector<Custody> out;
  Stmt& q = s_->guardians_of;
  q.Bind(1, ward_id);
  ENNAKKO_RETURN_IF_ERROR(ForEachRow(q, [&](const Stmt& r) {
    out.push_back(Custody{r.Int(0), ward_id, r.OptText(1), OptDate(r, 2), OptDate(r, 3)});
  }));
  return out;
}

Result<std::vector<int64_t>> PopulationStore::WardsOf(int64_t guardian_id) {
  std::vector<int64_t> out;
  Stmt& q = s_->wards_of;
  q.Bind(1, guardian_id);
  ENNAKKO_RETURN_IF_ERROR(ForEachRow(q, [&](const Stmt& r) { out.push_back(r.Int(0)); }));
  return out;
}

Result<std::vector<std::pair<int64_t, int64_t>>> PopulationStore::AllCustodyPairs() {
  auto q = db_.Prepare("SELECT guardian_id, ward_id FROM custody");
  if (!q.ok()) return q.status();
  std::vector<std::pair<int64_t, int64_t>> out;
  ENNAKKO_RETURN_IF_ERROR(
      ForEachRow(*q, [&](const Stmt& r) { out.emplace_back(r.Int(0), r.Int(1)); }));
  return out;
}

// --- placements ----------------------------------------------------------------------------------

Result<bool> PopulationStore::UpsertPlacement(const Placement& pl, const Provenance& p) {
  Stmt& q = s_->get_placement;
  q.Bind(1, pl.resident_id).Bind(2, pl.kind).Bind(3, pl.start.ToString());
  bool exists = false;
  std::optional<Date> end;
  ENNAKKO_RETURN_IF_ERROR(ForEachRow(q, [&](const Stmt& r) {
    exists = true;
    end = OptDate(r, 0);
  }));
  if (exists && end == pl.end) return false;
  Stmt& s = s_->put_placement;
  s.Bind(1, pl.resident_id).Bind(2, pl.kind).Bind(3, pl.start.ToString());
  BindDate(s, 4, pl.end);
  ENNAKKO_RETURN_IF_ERROR(s.Run());
  ENNAKKO_RETURN_IF_ERROR(PutFact(pl.resident_id, "placements", true, p));
  return true;
}

Result<bool> PopulationStore::RemovePlacement(int64_t resident_id, std::string_view kind,
                                              Date start, const Provenance& p) {
  Stmt& s = s_->delete_placement;
  ENNAKKO_RETURN_IF_ERROR(s.Bind(1, resident_id).Bind(2, kind).Bind(3, start.ToString()).Run());
  if (db_.Changes() == 0) return false;
  ENNAKKO_RETURN_IF_ERROR(PutFact(resident_id, "placements", true, p));
  return true;
}

Result<std::vector<Placement>> PopulationStore::PlacementsOf(int64_t resident_id) {
  std::vector<Placement> out;
  Stmt& q = s_->placements_of;
  q.Bind(1, resident_id);
  ENNAKKO_RETURN_IF_ERROR(ForEachRow(q, [&](const Stmt& r) {
    out.push_back(Placement{resident_id, r.Text(0), OptDate(r, 1).value_or(Date{}), OptDate(r, 2)});
  }));
  return out;
}

// --- quarantine, cursors, counts -----------------------------------------------------------------

Status PopulationStore::Quarantine(const QuarantineEntry& e) {
  return s_->quarantine.Bind(1, e.connector)
      .Bind(2, e.batch)
      .Bind(3, e.line)
      .Bind(4, e.reason)
      .Bind(5, e.record)
      .Bind(6, e.at)
      .Run();
}

namespace {
Result<int64_t> CountOf(Stmt& q) {
  int64_t n = 0;
  ENNAKKO_RETURN_IF_ERROR(ForEachRow(q, [&](const Stmt& r) { n = r.Int(0); }));
  return n;
}
}  // namespace

Result<int64_t> PopulationStore::CountQuarantined(std::string_view connector) {
  s_->count_quarantined.Bind(1, connector);
  return CountOf(s_->count_quarantined);
}

Result<std::optional<std::string>> PopulationStore::GetCursor(std::string_view connector) {
  std::optional<std::string> out;
  Stmt& q = s_->get_cursor;
  q.Bind(1, connector);
  ENNAKKO_RETURN_IF_ERROR(ForEachRow(q, [&](const Stmt& r) { out = r.Text(0); }));
  return out;
}

Status PopulationStore::SetCursor(std::string_view connector, std::string_view cursor,
                                  std::string_view at) {
  return s_->set_cursor.Bind(1, connector).Bind(2, cursor).Bind(3, at).Run();
}

Result<int64_t> PopulationStore::CountAlive(std::string_view municipality) {
  s_->count_alive.Bind(1, municipality);
  return CountOf(s_->count_alive);
}

Result<int64_t> PopulationStore::CountResidents() { return CountOf(s_->count_residents); }

Result<bool> PopulationStore::HasResidents() {
  auto q = db_.Prepare("SELECT EXISTS (SELECT 1 FROM residents)");
  if (!q.ok()) return q.status();
  auto n = CountOf(*q);
  if (!n.ok()) return n.status();
  return *n != 0;
}

}  // namespace ennakko
