#include "engine/app/incomes_snapshot.h"

#include <set>
#include <string>

#include "connectors/registries/incomes_connector.h"

namespace ennakko {

namespace {
int32_t DayOrNone(const std::optional<std::string>& s) {
  if (!s) return kNoDate;
  auto d = Date::Parse(s->substr(0, 10));
  return d ? d->days : kNoDate;
}
}  // namespace

Status LoadIncomes(Db& db, Date today, PopulationBuilder& builder) {
  const std::string end_of_day = today.ToString() + "T23:59:59.999Z";
  std::set<int64_t> held;
  auto fetched = db.Prepare("SELECT resident_id, purpose, fetched_at FROM incomes_fetched ORDER BY purpose");
  if (!fetched.ok()) return fetched.status();
  std::string purpose;
  std::set<int64_t> allowed;
  for (;;) {
    auto row = fetched->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (fetched->Text(1) != purpose) {  // rows come grouped by purpose
      purpose = fetched->Text(1);
      allowed.clear();
      auto basis = ResidentsWithIncomeBasis(db, purpose, today, end_of_day);
      if (!basis.ok()) return basis.status();
      for (const auto& b : *basis) allowed.insert(b.resident_id);
    }
    int64_t id = fetched->Int(0);
    if (!allowed.count(id)) continue;
    held.insert(id);
    builder.SetIncomesHeld(id);
    builder.SetFetched(id, Field::kIncomes, DayOrNone(fetched->OptText(2)));
  }
  if (held.empty()) return Status::Ok();
  auto st = db.Prepare(
      "SELECT earner_id, income_type, amount_cents, recovery, period_start, period_end FROM incomes "
      "ORDER BY earner_id, report_id, line");
  if (!st.ok()) return st.status();
  for (;;) {
    auto row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    int64_t id = st->Int(0);
    if (!held.count(id)) continue;
    int64_t micros = st->Int(2) * (kDecimalScale / 100) * (st->Int(3) ? -1 : 1);
    builder.AddIncome(id, st->Text(1), micros, DayOrNone(st->OptText(4)), DayOrNone(st->OptText(5)));
  }
  return Status::Ok();
}

}  // namespace ennakko
