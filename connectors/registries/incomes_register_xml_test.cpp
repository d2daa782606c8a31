#include "connectors/registries/incomes_register_xml.h"

#include <catch2/catch.hpp>

using namespace ennakko;

namespace {

const char* kAnswer = R"(<?xml version="1.0" encoding="UTF-8"?>
<IncomesRegisterQueryResponse>
  <DeliveryData>
    <PaymentPeriod><PaymentDate>2026-02-27</PaymentDate><StartDate>2026-02-01</StartDate><EndDate>2026-02-28</EndDate></PaymentPeriod>
    <Payer><PayerIds><Id>1234567-8</Id></PayerIds></Payer>
    <Reports>
      <Report>
        <ReportData><ActionCode>2</ActionCode><IRReportId>IR-1</IRReportId><ReportVersion>3</ReportVersion>
          <ReceivedTimestamp>2026-02-27T10:11:12.5Z</ReceivedTimestamp></ReportData>
        <IncomeEarner><IncomeEarnerIds><Id>010594Y9032</Id></IncomeEarnerIds></IncomeEarner>
        <Transactions>
          <Transaction><TransactionBasic><TransactionCode>201</TransactionCode><Amount>3500.5</Amount>
            <OneOff>false</OneOff><Recovery>false</Recovery></TransactionBasic></Transaction>
          <Transaction><TransactionBasic><TransactionCode>101</TransactionCode><Amount>120.00</Amount>
            <OneOff>true</OneOff><Recovery>true</Recovery></TransactionBasic>
            <EarningPeriods><EarningPeriod><StartDate>2026-01-01</StartDate><EndDate>2026-01-15</EndDate></EarningPeriod>
              <EarningPeriod><StartDate>2026-01-16</StartDate><EndDate>2026-01-31</EndDate></EarningPeriod></EarningPeriods></Transaction>
        </Transactions>
      </Report>
      <Report>
        <ReportData><ActionCode>1</ActionCode><IRReportId>IR-2</IRReportId><ReportVersion>1</ReportVersion>
          <ReceivedTimestamp>2026-02-27T10:11:12Z</ReceivedTimestamp></ReportData>
        <IncomeEarner><IncomeEarnerIds><Id>010594Y9032</Id></IncomeEarnerIds></IncomeEarner>
        <Transactions><Transaction><TransactionBasic><TransactionCode>201</TransactionCode><Amount>-5</Amount>
          </TransactionBasic></Transaction></Transactions>
      </Report>
    </Reports>
  </DeliveryData>
</IncomesRegisterQueryResponse>)";

}  // namespace

TEST_CASE("an answer's reports are parsed with their delivery context", "[incomes-xml]") {
  auto parsed = ParseIncomesAnswer(kAnswer);
  REQUIRE(parsed.ok());
  REQUIRE(parsed->size() == 2);
  const auto& a = (*parsed)[0];
  REQUIRE(a.report);
  CHECK(a.income_earner_id == "010594Y9032");
  CHECK(a.report->report_id == "IR-1");
  CHECK(a.report->version == 3);
  CHECK(a.report->action == ReportAction::kReplace);
  CHECK(a.report->payer_id == "1234567-8");
  CHECK(a.report->payment_date == Date::FromYmd(2026, 2, 27));
  CHECK(a.report->period_start == Date::FromYmd(2026, 2, 1));
  CHECK(a.report->received_at == "2026-02-27T10:11:12.5Z");
  REQUIRE(a.report->transactions.size() == 2);
  CHECK(a.report->transactions[0].income_type == "201");
  CHECK(a.report->transactions[0].amount_cents == 350050);
  CHECK(a.report->transactions[1].one_off);
  CHECK(a.report->transactions[1].recovery);
  CHECK(a.report->transactions[1].earning_start == Date::FromYmd(2026, 1, 1));  // the span of both periods
  CHECK(a.report->transactions[1].earning_end == Date::FromYmd(2026, 1, 31));
  CHECK(a.raw.find("<IRReportId>IR-1</IRReportId>") != std::string::npos);
  CHECK(a.raw.find("IR-2") == std::string::npos);  // the raw record is this report only
  CHECK(a.raw.find("<Payer>") != std::string::npos);

  const auto& b = (*parsed)[1];
  CHECK_FALSE(b.report);
  CHECK(b.error == "transaction 1: Amount is not a non-negative amount in euros");
}

TEST_CASE("a damaged answer is a transient error, not a quarantine", "[incomes-xml]") {
  std::string truncated(kAnswer, 300);
  CHECK(ParseIncomesAnswer(truncated).status().code() == StatusCode::kUnavailable);
  CHECK(ParseIncomesAnswer("<Other/>").status().code() == StatusCode::kUnavailable);
  CHECK(ParseIncomesAnswer("<IncomesRegisterQueryResponse/>").value().empty());
}

TEST_CASE("report fields are validated one by one", "[incomes-xml]") {
  auto one = [](const std::string& data, const std::string& tx) {
    return ParseIncomesAnswer(
               "<IncomesRegisterQueryResponse><DeliveryData><Reports><Report><ReportData>" + data +
               "</ReportData><IncomeEarner><IncomeEarnerIds><Id>010594Y9032</Id></IncomeEarnerIds></IncomeEarner>"
               "<Transactions>" + tx + "</Transactions></Report></Reports></DeliveryData></IncomesRegisterQueryResponse>")
        .value()
        .at(0);
  };
  const std::string ok_data =
      "<ActionCode>1</ActionCode><IRReportId>X</IRReportId><ReportVersion>1</ReportVersion>"
      "<ReceivedTimestamp>2026-01-01T00:00:00Z</ReceivedTimestamp>";
  const std::string ok_tx =
      "<Transaction><TransactionBasic><TransactionCode>201</TransactionCode><Amount>1</Amount></TransactionBasic>"
      "</Transaction>";
  CHECK(one(ok_data, ok_tx).report);
  CHECK(one("<ActionCode>9</ActionCode><IRReportId>X</IRReportId><ReportVersion>1</ReportVersion>"
            "<ReceivedTimestamp>2026-01-01T00:00:00Z</ReceivedTimestamp>", ok_tx).error == "unknown ActionCode '9'");
  CHECK(one("<ActionCode>1</ActionCode><IRReportId>X</IRReportId><ReportVersion>x</ReportVersion>"
            "<ReceivedTimestamp>2026-01-01T00:00:00Z</ReceivedTimestamp>", ok_tx).error ==
        "ReportVersion is not a positive integer");
  CHECK(one(ok_data, "").error == "a new or replacement report has no Transactions");
  // A cancellation needs no transactions.
  CHECK(one("<ActionCode>3</ActionCode><IRReportId>X</IRReportId><ReportVersion>2</ReportVersion>"
            "<ReceivedTimestamp>2026-01-01T00:00:00Z</ReceivedTimestamp>", "").report);
  CHECK(one(ok_data, "<Transaction><TransactionBasic><TransactionCode>20a</TransactionCode><Amount>1</Amount>"
                     "</TransactionBasic></Transaction>").error ==
        "transaction 1: TransactionCode is not an income type code");
}

TEST_CASE("amounts and timestamps", "[incomes-xml]") {
  CHECK(ParseAmountCents("0") == 0);
  CHECK(ParseAmountCents("12.3") == 1230);
  CHECK(ParseAmountCents("12.34") == 1234);
  CHECK_FALSE(ParseAmountCents("12.345"));
  CHECK_FALSE(ParseAmountCents("12."));
  CHECK_FALSE(ParseAmountCents("-1"));
  CHECK_FALSE(ParseAmountCents("1e3"));
  CHECK_FALSE(ParseAmountCents(""));
  auto t = ParseUtcTimestamp("2026-02-27T10:11:12.500Z");
  REQUIRE(t);
  CHECK(FormatTimestamp(*t) == "2026-02-27T10:11:12.500Z");
  CHECK_FALSE(ParseUtcTimestamp("2026-02-27T10:11:12+02:00"));
  CHECK_FALSE(ParseUtcTimestamp("2026-02-30T10:11:12Z"));
}

TEST_CASE("the query names the earner, the purpose and the receipt window", "[incomes-xml]") {
  std::string q = WriteIncomesQuery({"010594Y9032", "ecec-fee", "2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z"});
  CHECK(q.find("<QueryType>EarningsPaymentReportsOfIncomeEarner</QueryType>") != std::string::npos);
  CHECK(q.find("<IncomeEarner><IncomeEarnerIds><Id>010594Y9032</Id></IncomeEarnerIds></IncomeEarner>") !=
        std::string::npos);
  CHECK(q.find("<Purpose>ecec-fee</Purpose>") != std::string::npos);
  CHECK(q.find("<ReceivedTimestampStart>2026-01-01T00:00:00.000Z</ReceivedTimestampStart>") != std::string::npos);
}
