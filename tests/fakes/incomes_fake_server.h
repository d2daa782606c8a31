// A test double of the Incomes Register's data-user interface (real-time query of earnings payment
// reports), for unit tests (in process) and end-to-end tests (the incomes_fake binary).
//
// It speaks the report shapes of the Incomes Register's English XML schemas (DeliveryData with
// PaymentPeriod and Payer; Report with ReportData (ActionCode, IRReportId, ReportVersion),
// IncomeEarner and Transactions) over plain HTTP POST. Query and root element names are the ones
// in connectors/registries/incomes_register_xml.h, marked [unconfirmed] there; this double writes
// and reads them literally so that the connector's mapping is tested against text, not against
// itself. Not modelled: the SOAP envelope, XML signatures, the Incomes Register certificate
// (HTTP Basic stands in for it), deferred queries and SFTP. See docs/incomes-connector.md.
//
// API:
//   POST /incomes-register/v1/earnings-payment-reports  (HTTP Basic username:password)
//        body <IncomesRegisterQuery><QueryType>EarningsPaymentReportsOfIncomeEarner</QueryType>
//             <Purpose>P</Purpose><IncomeEarner><IncomeEarnerIds><Id>HETU</Id>...</IncomeEarner>
//             <ReceivedTimestampStart>T1</...><ReceivedTimestampEnd>T2</...></IncomesRegisterQuery>
//        -> 200 <IncomesRegisterQueryResponse> with one DeliveryData per report whose income earner
//           is HETU and whose ReceivedTimestamp is in [T1, T2); 401 without the credentials; 403
//           when P is not a purpose of the data permit (options.permitted_purposes); 400 for a
//           malformed query. Every query that passes authentication is recorded.
//
// Test-only endpoints (no auth):
//   POST /_test/reports  body <IncomesFakeData> with DeliveryData elements (the data file format)
//        -> 204; each Report is stored with its delivery's PaymentPeriod and Payer.
//   POST /_test/reset    -> 204: forgets reports, recorded queries and queued faults.
//   GET  /_test/queries  -> 200 JSON [{"incomeEarner","purpose","start","end"}] in arrival order.
//   POST /_test/faults   JSON {"kind", "count"?, "status"?, "retryAfter"?, "delayMs"?} -> 204. The
//        next `count` queries (default 1) get, in queue order:
//          status    answer `status` (e.g. 503, or 429 with a Retry-After header of retryAfter s)
//          slow      wait delayMs, then answer normally
//          drop      close the connection without answering
//          truncate  send the headers and half of the body, then close
//          malformed answer 200 with XML that is not well-formed
//          duplicate answer as if T1 were the beginning of time: earlier windows' reports again
//
// Identity codes are never logged (nothing is logged at all). Thread-safety: all state is behind
// one mutex; accessors may be called from any thread. One thread per connection, joined on Stop.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/base/status.h"

namespace ennakko {

struct IncomesFakeOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0 picks a free port
  std::string username = "ennakko";
  std::string password = "test-password";
  std::set<std::string> permitted_purposes = {"ecec-fee-income"};  // the data permit
};

struct IncomesFakeQuery {
  std::string income_earner, purpose, start, end;
};

struct IncomesFakeFault {
  std::string kind = "status";  // status | slow | drop | truncate | malformed | duplicate
  int count = 1;
  int status = 503;
  int retry_after_s = 0;
  int delay_ms = 0;
};

class IncomesFake {
 public:
  explicit IncomesFake(IncomesFakeOptions options = {});
  ~IncomesFake();
  IncomesFake(const IncomesFake&) = delete;
  IncomesFake& operator=(const IncomesFake&) = delete;

  Status Start();
  uint16_t port() const;
  std::string base_url() const;
  void Stop();

  // The same as the test endpoints, for in-process tests. AddReports takes the data file format.
  Status AddReports(const std::string& xml);
  std::vector<IncomesFakeQuery> queries() const;
  void InjectFault(IncomesFakeFault fault);
  void Reset();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ennakko
