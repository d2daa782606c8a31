// IncomeStore: Incomes Register earnings payment reports per income earner, with provenance.
//
// What it is for: the incomes connector (connectors/registries/incomes_connector.h) turns each
// report it pulls into an IncomeReport and applies it here; the evaluation snapshot reads the
// transactions back. The store is the single writer of income_reports, incomes and
// incomes_fetched, so the invariants below hold whichever connector fed the data.
//
// Invariants (kept here, not by callers):
//  - A report is keyed by its IRReportId. income_reports remembers the latest version applied of
//    every report, cancelled ones included; incomes holds the transactions of that version only.
//  - A report version higher than the stored one wins: a new or replacement report replaces the
//    earlier version's transactions, a cancellation removes them. A version lower than or equal to
//    the stored one changes nothing, so re-delivered or out-of-order reports are harmless.
//  - Amounts are whole euro cents, as reported (never negative); a recovery is flagged, not
//    negated (the snapshot subtracts it).
//  - incomes_fetched says whose incomes were pulled, under which consent purpose and up to which
//    receipt time. Forget() removes a resident's incomes and that row together.
//
// Transactions: the store never BEGINs or COMMITs. The caller wraps a batch (one income earner's
// answer) and its cursor advance in one Transaction.
//
// Thread-safety: none. An IncomeStore belongs to one thread and must not outlive its Db.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/date.h"
#include "engine/base/status.h"
#include "engine/store/population.h"
#include "engine/store/sqlite.h"

namespace ennakko {

// ActionCode of a report.
enum class ReportAction { kNew, kReplace, kCancel };
const char* ReportActionName(ReportAction a);  // new | replace | cancel

struct IncomeTransaction {
  std::string income_type;  // TransactionCode, e.g. "201"
  int64_t amount_cents = 0; // >= 0
  bool one_off = false;
  bool recovery = false;
  // The transaction's own earning period; when absent the report's payment period applies.
  std::optional<Date> earning_start;
  std::optional<Date> earning_end;
  friend bool operator==(const IncomeTransaction&, const IncomeTransaction&) = default;
};

struct IncomeReport {
  std::string report_id;  // IRReportId
  int64_t version = 1;    // ReportVersion
  ReportAction action = ReportAction::kNew;
  int64_t earner_id = 0;  // the income earner's residents.id
  std::string payer_id;
  std::optional<Date> payment_date;
  std::optional<Date> period_start;  // PaymentPeriod StartDate / EndDate
  std::optional<Date> period_end;
  std::string received_at;  // RFC 3339 UTC, when the register received this version
  std::vector<IncomeTransaction> transactions;  // empty for a cancellation
};

enum class ApplyOutcome {
  kInserted,   // a report not seen before
  kReplaced,   // a higher version replaced the earlier one's transactions
  kCancelled,  // a higher version cancelled the report: its transactions are gone
  kIgnored,    // this version or a later one was already applied
};
const char* ApplyOutcomeName(ApplyOutcome o);

// One stored transaction, as the snapshot reads it.
struct StoredIncome {
  std::string report_id;
  int64_t line = 0;
  int64_t version = 0;
  std::string payer_id;
  std::optional<Date> payment_date;
  std::optional<Date> start;  // the earning period in force for this transaction
  std::optional<Date> end;
  std::string income_type;
  int64_t amount_cents = 0;
  bool one_off = false;
  bool recovery = false;
};

class IncomeStore {
 public:
  // REQUIRES: db is migrated (OpenStore) and outlives the store.
  static Result<std::unique_ptr<IncomeStore>> Open(Db& db);
  ~IncomeStore();
  IncomeStore(const IncomeStore&) = delete;
  IncomeStore& operator=(const IncomeStore&) = delete;

  // Applies one report version (see the invariants). InvalidArgument for a report with no id, a
  // version below 1 or a negative amount.
  Result<ApplyOutcome> Apply(const IncomeReport& report, const Provenance& provenance);

  // The transactions in force of one income earner, by report id and line.
  Result<std::vector<StoredIncome>> IncomesOf(int64_t earner_id);
  // The latest version applied of a report and its action, if any.
  Result<std::optional<std::pair<int64_t, ReportAction>>> LatestVersion(std::string_view report_id);

  // Records that the earner's incomes were pulled through `through` (a receipt time).
  Status MarkFetched(int64_t resident_id, std::string_view purpose, std::string_view through,
                     std::string_view at);
  // The receipt time the earner's incomes were pulled through, if ever.
  Result<std::optional<std::string>> FetchedThrough(int64_t resident_id);
  // Residents whose incomes were pulled (sorted).
  Result<std::vector<int64_t>> FetchedResidents();
  // Deletes everything held about the resident's incomes (the legal basis ended); true when
  // anything was held.
  Result<bool> Forget(int64_t resident_id);

 private:
  struct Statements;
  IncomeStore(Db& db, std::unique_ptr<Statements> s);
  Db& db_;
  std::unique_ptr<Statements> s_;
};

}  // namespace ennakko
