// The Incomes Register (Tulorekisteri) data-user vocabulary: the one place that knows its query
// and element names, and turns its XML into our IncomeReport values and back.
//
// What is modelled (see docs/incomes-connector.md): the real-time query "earnings payment reports
// of one income earner received between T1 and T2" and the report shapes of the Incomes
// Register's English XML schemas [client]: DeliveryData (PaymentPeriod: PaymentDate, StartDate,
// EndDate; Payer/PayerIds/Id; Reports/Report), Report (ReportData: ActionCode, IRReportId,
// ReportVersion; IncomeEarner/IncomeEarnerIds/Id; Transactions/Transaction: TransactionBasic
// (TransactionCode, Amount, OneOff, Recovery) and EarningPeriods/EarningPeriod (StartDate,
// EndDate)). Names marked [unconfirmed] in kVocabulary below are ours until the data permit's
// documentation confirms them: change them here and nowhere else.
//
// Not modelled: the SOAP envelope, XML signatures and the Incomes Register certificate (the
// transport here is plain HTTP POST with HTTP Basic standing in for the certificate), deferred
// queries and SFTP.
//
// Thread-safety: stateless functions; safe from any thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/status.h"
#include "engine/store/incomes.h"

namespace ennakko {

struct IncomesRegisterVocabulary {
  // The query.
  const char* query_path = "/incomes-register/v1/earnings-payment-reports";    // [unconfirmed]
  const char* query_root = "IncomesRegisterQuery";                              // [unconfirmed]
  const char* query_type = "EarningsPaymentReportsOfIncomeEarner";              // [unconfirmed]
  const char* query_received_start = "ReceivedTimestampStart";                  // [unconfirmed]
  const char* query_received_end = "ReceivedTimestampEnd";                      // [unconfirmed]
  const char* query_purpose = "Purpose";                                        // [unconfirmed]
  // The answer.
  const char* response_root = "IncomesRegisterQueryResponse";                   // [unconfirmed]
  const char* report_received = "ReceivedTimestamp";  // in ReportData         // [unconfirmed]
  // ActionCode values [unconfirmed]: 1 new report, 2 replacement report, 3 cancellation.
  const char* action_new = "1";
  const char* action_replace = "2";
  const char* action_cancel = "3";
};
inline constexpr IncomesRegisterVocabulary kVocabulary{};

struct IncomesQuery {
  std::string income_earner_id;  // identity code
  std::string purpose;           // the purpose of use named in the data permit
  std::string received_start;    // RFC 3339 UTC, inclusive
  std::string received_end;      // RFC 3339 UTC, exclusive
};

// The request body of a query.
std::string WriteIncomesQuery(const IncomesQuery& q);

// One report of an answer: either parsed, or the reason it could not be (no personal data).
struct ParsedIncomeReport {
  std::string raw;               // the Report element as XML, with its delivery context
  std::string income_earner_id;  // as reported (may be empty when malformed)
  std::optional<IncomeReport> report;  // earner_id left 0: the caller maps the identity code
  std::string error;             // why report is empty
};

// Parses an answer. A document that is not well-formed XML or has the wrong root is an error
// (Unavailable: the answer was damaged in transit or the service misbehaved; asking again may
// help). A well-formed answer yields one entry per Report, each parsed or with its reason.
Result<std::vector<ParsedIncomeReport>> ParseIncomesAnswer(std::string_view xml);

// "1234.50" -> 123450 cents; nullopt for anything but a non-negative decimal with at most two
// decimals.
std::optional<int64_t> ParseAmountCents(std::string_view text);

// RFC 3339 "YYYY-MM-DDTHH:MM:SS[.fff]Z" -> time point; nullopt otherwise (UTC only).
std::optional<std::chrono::system_clock::time_point> ParseUtcTimestamp(std::string_view text);

}  // namespace ennakko
