#include "engine/app/live_population.h"

#include "engine/app/consent_snapshot.h"
#include "engine/app/incomes_snapshot.h"

#include <algorithm>
#include <tuple>
#include <unordered_set>

namespace ennakko {

namespace {

int32_t DateOrNone(const std::optional<std::string>& s) {
  if (!s) return kNoDate;
  auto d = Date::Parse(*s);
  return d ? d->days : kNoDate;
}

constexpr const char* kPersonColumns =
    "SELECT id, birth_date, death_date, municipality, language, address_protected, "
    "coalesce(street_address, '') || '|' || coalesce(postal_code, '') FROM residents";
constexpr const char* kCustodyColumns = "SELECT guardian_id, ward_id, start_date, end_date FROM custody";
constexpr const char* kPlacementColumns = "SELECT resident_id, kind, start_date, end_date FROM placements";

const char* FactName(Field field) {
  for (const auto& f : DataModel()) {
    if (f.field == field && f.owner == TypeKind::kPerson) return f.name;
  }
  return nullptr;
}

template <typename F>
Status EachRow(Stmt& q, F&& f) {
  for (;;) {
    auto row = q.Step();
    if (!row.ok()) {
      q.Reset();
      return row.status();
    }
    if (!*row) break;
    f(q);
  }
  q.Reset();
  return Status::Ok();
}

// One read transaction around many point queries: in WAL mode each query on its own begins and
// ends a read transaction, two file-lock calls on the shared-memory index each time (about half of
// a refresh's 40,000 queries' cost). It also makes the reads one consistent snapshot. Does nothing
// inside a caller's transaction.
class ReadTransaction {
 public:
  explicit ReadTransaction(Db& db) : db_(db), open_(db.Exec("BEGIN").ok()) {}
  ~ReadTransaction() {
    if (open_) (void)db_.Exec("COMMIT");
  }
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

 private:
  Db& db_;
  bool open_;
};

}  // namespace

Status LivePopulation::ReadPerson(Stmt& q, Person* p) {
  p->id = q.Int(0);
  p->birth = DateOrNone(q.OptText(1));
  p->death = DateOrNone(q.OptText(2));
  p->municipality = strings_.Intern(q.Text(3));
  p->language = strings_.Intern(q.Text(4));
  p->is_protected = q.Int(5) != 0;
  std::string address = q.Text(6);
  p->household = address == "|" || p->is_protected ? kNoString : strings_.Intern(address);
  p->fetched.assign(fresh_.size(), kNoDate);
  return Status::Ok();
}

Result<std::unique_ptr<LivePopulation>> LivePopulation::Load(Db& db, Date today, std::vector<Field> fresh) {
  auto live = std::unique_ptr<LivePopulation>(new LivePopulation());
  live->today_ = today;
  fresh.erase(std::remove_if(fresh.begin(), fresh.end(), [](Field f) { return FactName(f) == nullptr; }),
              fresh.end());
  live->fresh_ = std::move(fresh);
  {
    auto q = db.Prepare(std::string(kPersonColumns) + " ORDER BY id");
    if (!q.ok()) return q.status();
    Status st = EachRow(*q, [&](Stmt& r) {
      live->persons_.emplace_back();
      (void)live->ReadPerson(r, &live->persons_.back());
    });
    ENNAKKO_RETURN_IF_ERROR(st);
  }
  {
    auto q = db.Prepare(std::string(kCustodyColumns) + " ORDER BY guardian_id, ward_id");
    if (!q.ok()) return q.status();
    ENNAKKO_RETURN_IF_ERROR(EachRow(*q, [&](Stmt& r) {
      live->custody_.push_back({r.Int(0), r.Int(1), DateOrNone(r.OptText(2)), DateOrNone(r.OptText(3))});
    }));
  }
  {
    auto q = db.Prepare(std::string(kPlacementColumns) + " ORDER BY resident_id, kind, start_date");
    if (!q.ok()) return q.status();
    ENNAKKO_RETURN_IF_ERROR(EachRow(*q, [&](Stmt& r) {
      std::string kind = r.Text(1);
      live->placements_.push_back({r.Int(0), live->strings_.Intern(kind), kind, DateOrNone(r.OptText(2)),
                                   DateOrNone(r.OptText(3))});
    }));
  }
  for (size_t f = 0; f < live->fresh_.size(); ++f) {
    auto q = db.Prepare("SELECT resident_id, substr(fetched_at, 1, 10) FROM facts WHERE name = ? ORDER BY resident_id");
    if (!q.ok()) return q.status();
    q->Bind(1, FactName(live->fresh_[f]));
    size_t i = 0;
    auto& persons = live->persons_;
    ENNAKKO_RETURN_IF_ERROR(EachRow(*q, [&](Stmt& r) {
      int64_t id = r.Int(0);
      while (i < persons.size() && persons[i].id < id) ++i;
      if (i < persons.size() && persons[i].id == id) persons[i].fetched[f] = DateOrNone(r.OptText(1));
    }));
  }
  ENNAKKO_RETURN_IF_ERROR(live->Rebuild(db));
  return live;
}

Result<Population> LivePopulation::Refresh(Db& db, const std::vector<int64_t>& store_ids) {
  std::vector<int64_t> ids = store_ids;
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::unordered_set<int64_t> changed(ids.begin(), ids.end());
  ReadTransaction snapshot(db);

  // Residents: re-read each; merge into the sorted records.
  auto person_q = db.Prepare(std::string(kPersonColumns) + " WHERE id = ?");
  if (!person_q.ok()) return person_q.status();
  std::vector<Person> fresh_rows;
  for (int64_t id : ids) {
    person_q->Bind(1, id);
    ENNAKKO_RETURN_IF_ERROR(EachRow(*person_q, [&](Stmt& r) {
      fresh_rows.emplace_back();
      (void)ReadPerson(r, &fresh_rows.back());
    }));
  }
  for (size_t f = 0; f < fresh_.size(); ++f) {
    auto q = db.Prepare("SELECT substr(fetched_at, 1, 10) FROM facts WHERE resident_id = ? AND name = ?");
    if (!q.ok()) return q.status();
    for (Person& p : fresh_rows) {
      q->Bind(1, p.id).Bind(2, FactName(fresh_[f]));
      ENNAKKO_RETURN_IF_ERROR(EachRow(*q, [&](Stmt& r) { p.fetched[f] = DateOrNone(r.OptText(0)); }));
    }
  }
  {
    std::vector<Person> merged;
    merged.reserve(persons_.size() + fresh_rows.size());
    size_t j = 0;
    for (Person& p : persons_) {
      while (j < fresh_rows.size() && fresh_rows[j].id < p.id) merged.push_back(std::move(fresh_rows[j++]));
      if (j < fresh_rows.size() && fresh_rows[j].id == p.id) {
        merged.push_back(std::move(fresh_rows[j++]));
      } else if (!changed.count(p.id)) {
        merged.push_back(std::move(p));
      }  // else: changed and gone from the store
    }
    while (j < fresh_rows.size()) merged.push_back(std::move(fresh_rows[j++]));
    persons_ = std::move(merged);
  }

  // Custody rows naming a changed resident on either side: dropped and re-read.
  {
    auto by_guardian = db.Prepare(std::string(kCustodyColumns) + " WHERE guardian_id = ?");
    auto by_ward = db.Prepare(std::string(kCustodyColumns) + " WHERE ward_id = ?");
    if (!by_guardian.ok()) return by_guardian.status();
    if (!by_ward.ok()) return by_ward.status();
    std::erase_if(custody_, [&](const CustodyRow& c) { return changed.count(c.guardian) || changed.count(c.ward); });
    std::vector<CustodyRow> add;
    auto read = [&](Stmt& r) {
      add.push_back({r.Int(0), r.Int(1), DateOrNone(r.OptText(2)), DateOrNone(r.OptText(3))});
    };
    for (int64_t id : ids) {
      by_guardian->Bind(1, id);
      ENNAKKO_RETURN_IF_ERROR(EachRow(*by_guardian, read));
      by_ward->Bind(1, id);
      ENNAKKO_RETURN_IF_ERROR(EachRow(*by_ward, read));
    }
    auto key = [](const CustodyRow& c) { return std::pair(c.guardian, c.ward); };
    std::sort(add.begin(), add.end(), [&](const auto& a, const auto& b) { return key(a) < key(b); });
    add.erase(std::unique(add.begin(), add.end(), [&](const auto& a, const auto& b) { return key(a) == key(b); }),
              add.end());
    size_t middle = custody_.size();
    custody_.insert(custody_.end(), add.begin(), add.end());
    std::inplace_merge(custody_.begin(), custody_.begin() + static_cast<std::ptrdiff_t>(middle), custody_.end(),
                       [&](const auto& a, const auto& b) { return key(a) < key(b); });
  }
  {
    auto q = db.Prepare(std::string(kPlacementColumns) + " WHERE resident_id = ? ORDER BY kind, start_date");
    if (!q.ok()) return q.status();
    std::erase_if(placements_, [&](const PlacementRow& p) { return changed.count(p.resident) > 0; });
    std::vector<PlacementRow> add;
    for (int64_t id : ids) {
      q->Bind(1, id);
      ENNAKKO_RETURN_IF_ERROR(EachRow(*q, [&](Stmt& r) {
        std::string kind = r.Text(1);
        add.push_back({r.Int(0), strings_.Intern(kind), kind, DateOrNone(r.OptText(2)), DateOrNone(r.OptText(3))});
      }));
    }
    size_t middle = placements_.size();
    placements_.insert(placements_.end(), std::make_move_iterator(add.begin()), std::make_move_iterator(add.end()));
    auto key = [](const PlacementRow& p) { return std::tie(p.resident, p.kind_text, p.start); };
    std::inplace_merge(placements_.begin(), placements_.begin() + static_cast<std::ptrdiff_t>(middle),
                       placements_.end(), [&](const auto& a, const auto& b) { return key(a) < key(b); });
  }
  Population previous = std::move(population_);
  ENNAKKO_RETURN_IF_ERROR(Rebuild(db));
  return previous;
}

Status LivePopulation::Rebuild(Db& db) {
  PopulationBuilder b;
  for (const Person& p : persons_) {
    b.AddPerson({.store_id = p.id,
                 .birth = p.birth,
                 .death = p.death,
                 .municipality = strings_.Get(p.municipality),
                 .language = strings_.Get(p.language),
                 .address_protected = p.is_protected,
                 .household_key = {},
                 .household_id = p.household});  // interned address: kNoString (0) = none
  }
  const int32_t today = today_.days;
  for (const CustodyRow& c : custody_) {
    // In force today, as LoadPopulation selects (dates compare as days, as their text does).
    if ((c.start == kNoDate || c.start <= today) && (c.end == kNoDate || c.end >= today)) {
      b.AddCustody(c.guardian, c.ward);
    }
  }
  for (const PlacementRow& p : placements_) b.AddPlacement(p.resident, p.kind_text, p.start, p.end);
  for (size_t f = 0; f < fresh_.size(); ++f) {
    for (size_t i = 0; i < persons_.size(); ++i) {  // persons_ were added in this order
      const Person& p = persons_[i];
      if (p.fetched[f] != kNoDate) b.SetFetchedAt(static_cast<PersonIndex>(i), fresh_[f], p.fetched[f]);
    }
  }
  // Consents and incomes are few (only residents with a legal basis have incomes): re-read them
  // whole, as LoadPopulation does.
  ENNAKKO_RETURN_IF_ERROR(LoadConsents(db, b));
  ENNAKKO_RETURN_IF_ERROR(LoadIncomes(db, today_, b));
  population_ = std::move(b).Build();
  return Status::Ok();
}

}  // namespace ennakko
