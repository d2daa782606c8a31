#include "engine/store/incomes.h"

#include <fmt/format.h>

namespace ennakko {

namespace {

std::optional<Date> OptDate(const Stmt& q, int col) {
  if (q.IsNull(col)) return std::nullopt;
  return Date::Parse(q.Text(col));
}

std::optional<std::string> DateText(const std::optional<Date>& d) {
  if (!d) return std::nullopt;
  return d->ToString();
}

std::optional<ReportAction> ParseAction(std::string_view s) {
  if (s == "new") return ReportAction::kNew;
  if (s == "replace") return ReportAction::kReplace;
  if (s == "cancel") return ReportAction::kCancel;
  return std::nullopt;
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

const char* ReportActionName(ReportAction a) {
  switch (a) {
    case ReportAction::kNew: return "new";
    case ReportAction::kReplace: return "replace";
    case ReportAction::kCancel: return "cancel";
  }
  return "new";
}

const char* ApplyOutcomeName(ApplyOutcome o) {
  switch (o) {
    case ApplyOutcome::kInserted: return "inserted";
    case ApplyOutcome::kReplaced: return "replaced";
    case ApplyOutcome::kCancelled: return "cancelled";
    case ApplyOutcome::kIgnored: return "ignored";
  }
  return "ignored";
}

struct IncomeStore::Statements {
  Stmt latest, put_report, delete_lines, insert_line, incomes_of;
  Stmt mark_fetched, fetched_through, fetched_residents, forget_reports, forget_fetched;
};

IncomeStore::IncomeStore(Db& db, std::unique_ptr<Statements> s) : db_(db), s_(std::move(s)) {}
IncomeStore::~IncomeStore() = default;

Result<std::unique_ptr<IncomeStore>> IncomeStore::Open(Db& db) {
  Status error;
  auto prep = [&](std::string_view sql) -> Stmt {
    auto st = db.Prepare(sql);
    if (!st.ok()) {
      if (error.ok()) error = st.status();
      return std::move(db.Prepare("SELECT 1").value());  // never run: Open fails below
    }
    return std::move(st).value();
  };
  auto s = std::unique_ptr<Statements>(new Statements{
      prep("SELECT version, action FROM income_reports WHERE report_id = ?1"),
      prep("INSERT INTO income_reports (report_id, version, action, earner_id, received_at, source, "
           "change_id, fetched_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
           "ON CONFLICT (report_id) DO UPDATE SET version = excluded.version, action = excluded.action, "
           "earner_id = excluded.earner_id, received_at = excluded.received_at, source = excluded.source, "
           "change_id = excluded.change_id, fetched_at = excluded.fetched_at"),
      prep("DELETE FROM incomes WHERE report_id = ?1"),
      prep("INSERT INTO incomes (report_id, line, version, action, earner_id, payer_id, payment_date, "
           "period_start, period_end, income_type, amount_cents, one_off, recovery, received_at, source, "
           "change_id, fetched_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
           "?15, ?16, ?17)"),
      prep("SELECT report_id, line, version, payer_id, payment_date, period_start, period_end, income_type, "
           "amount_cents, one_off, recovery FROM incomes WHERE earner_id = ?1 ORDER BY report_id, line"),
      prep("INSERT INTO incomes_fetched (resident_id, purpose, fetched_through, fetched_at) "
           "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (resident_id) DO UPDATE SET purpose = excluded.purpose, "
           "fetched_through = excluded.fetched_through, fetched_at = excluded.fetched_at"),
      prep("SELECT fetched_through FROM incomes_fetched WHERE resident_id = ?1"),
      prep("SELECT resident_id FROM incomes_fetched ORDER BY resident_id"),
      prep("DELETE FROM income_reports WHERE earner_id = ?1"),
      prep("DELETE FROM incomes_fetched WHERE resident_id = ?1"),
  });
  if (!error.ok()) return error;
  return std::unique_ptr<IncomeStore>(new IncomeStore(db, std::move(s)));
}

Result<std::optional<std::pair<int64_t, ReportAction>>> IncomeStore::LatestVersion(
    std::string_view report_id) {
  std::optional<std::pair<int64_t, ReportAction>> out;
  s_->latest.Bind(1, report_id);
  Status st = ForEachRow(s_->latest, [&](const Stmt& r) {
    out = {r.Int(0), ParseAction(r.Text(1)).value_or(ReportAction::kNew)};
  });
  if (!st.ok()) return st;
  return out;
}

Result<ApplyOutcome> IncomeStore::Apply(const IncomeReport& r, const Provenance& p) {
  if (r.report_id.empty()) return Status::Invalid("income report without an IRReportId");
  if (r.version < 1) return Status::Invalid(fmt::format("report version {} is below 1", r.version));
  for (const auto& t : r.transactions) {
    if (t.amount_cents < 0) return Status::Invalid("a transaction amount is negative");
    if (t.income_type.empty()) return Status::Invalid("a transaction has no income type code");
  }
  auto latest = LatestVersion(r.report_id);
  if (!latest.ok()) return latest.status();
  if (*latest && (*latest)->first >= r.version) return ApplyOutcome::kIgnored;

  ENNAKKO_RETURN_IF_ERROR(s_->put_report.Bind(1, r.report_id)
                              .Bind(2, r.version)
                              .Bind(3, ReportActionName(r.action))
                              .Bind(4, r.earner_id)
                              .Bind(5, r.received_at)
                              .Bind(6, p.source)
                              .Bind(7, p.change_id)
                              .Bind(8, p.fetched_at)
                              .Run());
  ENNAKKO_RETURN_IF_ERROR(s_->delete_lines.Bind(1, r.report_id).Run());
  if (r.action == ReportAction::kCancel) return ApplyOutcome::kCancelled;
  int64_t line = 0;
  for (const auto& t : r.transactions) {
    std::optional<Date> start = t.earning_start ? t.earning_start : r.period_start;
    std::optional<Date> end = t.earning_start ? t.earning_end : r.period_end;
    ENNAKKO_RETURN_IF_ERROR(s_->insert_line.Bind(1, r.report_id)
                                .Bind(2, ++line)
                                .Bind(3, r.version)
                                .Bind(4, ReportActionName(r.action))
                                .Bind(5, r.earner_id)
                                .Bind(6, r.payer_id)
                                .Bind(7, DateText(r.payment_date))
                                .Bind(8, DateText(start))
                                .Bind(9, DateText(end))
                                .Bind(10, t.income_type)
                                .Bind(11, t.amount_cents)
                                .Bind(12, int64_t{t.one_off ? 1 : 0})
                                .Bind(13, int64_t{t.recovery ? 1 : 0})
                                .Bind(14, r.received_at)
                                .Bind(15, p.source)
                                .Bind(16, p.change_id)
                                .Bind(17, p.fetched_at)
                                .Run());
  }
  return *latest ? ApplyOutcome::kReplaced : ApplyOutcome::kInserted;
}

Result<std::vector<StoredIncome>> IncomeStore::IncomesOf(int64_t earner_id) {
  std::vector<StoredIncome> out;
  s_->incomes_of.Bind(1, earner_id);
  Status st = ForEachRow(s_->incomes_of, [&](const Stmt& q) {
    StoredIncome x;
    x.report_id = q.Text(0);
    x.line = q.Int(1);
    x.version = q.Int(2);
    x.payer_id = q.Text(3);
    x.payment_date = OptDate(q, 4);
    x.start = OptDate(q, 5);
    x.end = OptDate(q, 6);
    x.income_type = q.Text(7);
    x.amount_cents = q.Int(8);
    x.one_off = q.Int(9) != 0;
    x.recovery = q.Int(10) != 0;
    out.push_back(std::move(x));
  });
  if (!st.ok()) return st;
  return out;
}

Status IncomeStore::MarkFetched(int64_t resident_id, std::string_view purpose, std::string_view through,
                                std::string_view at) {
  return s_->mark_fetched.Bind(1, resident_id).Bind(2, purpose).Bind(3, through).Bind(4, at).Run();
}

Result<std::optional<std::string>> IncomeStore::FetchedThrough(int64_t resident_id) {
  std::optional<std::string> out;
  s_->fetched_through.Bind(1, resident_id);
  Status st = ForEachRow(s_->fetched_through, [&](const Stmt& q) { out = q.Text(0); });
  if (!st.ok()) return st;
  return out;
}

Result<std::vector<int64_t>> IncomeStore::FetchedResidents() {
  std::vector<int64_t> out;
  Status st = ForEachRow(s_->fetched_residents, [&](const Stmt& q) { out.push_back(q.Int(0)); });
  if (!st.ok()) return st;
  return out;
}

Result<bool> IncomeStore::Forget(int64_t resident_id) {
  // incomes rows go with their reports (ON DELETE CASCADE).
  ENNAKKO_RETURN_IF_ERROR(s_->forget_reports.Bind(1, resident_id).Run());
  bool any = db_.Changes() > 0;
  ENNAKKO_RETURN_IF_ERROR(s_->forget_fetched.Bind(1, resident_id).Run());
  any = any || db_.Changes() > 0;
  return any;
}

}  // namespace ennakko
