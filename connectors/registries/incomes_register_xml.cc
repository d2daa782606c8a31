#include "connectors/registries/incomes_register_xml.h"

#include <sstream>

#include <fmt/format.h>
#include <pugixml.hpp>

namespace ennakko {

namespace {

std::string Text(const pugi::xml_node& n, const char* path) {
  return n.first_element_by_path(path).text().as_string();
}

std::optional<bool> ParseBool(const std::string& s) {
  if (s.empty() || s == "false" || s == "0") return false;
  if (s == "true" || s == "1") return true;
  return std::nullopt;
}

// An optional date element: absent is fine, present but not a date is an error.
bool OptDate(const pugi::xml_node& n, const char* path, std::optional<Date>& out) {
  std::string s = Text(n, path);
  if (s.empty()) return true;
  out = Date::Parse(s);
  return out.has_value();
}

std::string Serialize(const pugi::xml_node& n) {
  std::ostringstream os;
  n.print(os, "", pugi::format_raw);
  return os.str();
}

// Parses one Report of a DeliveryData. Returns the reason on failure.
std::string ParseReport(const pugi::xml_node& delivery, const pugi::xml_node& rep, IncomeReport& r) {
  const auto& v = kVocabulary;
  pugi::xml_node data = rep.child("ReportData");
  if (!data) return "Report has no ReportData";
  r.report_id = Text(data, "IRReportId");
  if (r.report_id.empty()) return "ReportData has no IRReportId";
  std::string version = Text(data, "ReportVersion");
  try {
    size_t used = 0;
    r.version = std::stoll(version, &used);
    if (used != version.size() || r.version < 1) return "ReportVersion is not a positive integer";
  } catch (...) {
    return "ReportVersion is not a positive integer";
  }
  std::string action = Text(data, "ActionCode");
  if (action == v.action_new) {
    r.action = ReportAction::kNew;
  } else if (action == v.action_replace) {
    r.action = ReportAction::kReplace;
  } else if (action == v.action_cancel) {
    r.action = ReportAction::kCancel;
  } else {
    return "unknown ActionCode '" + action.substr(0, 8) + "'";
  }
  r.received_at = Text(data, v.report_received);
  if (!ParseUtcTimestamp(r.received_at)) return std::string(v.report_received) + " is not an RFC 3339 UTC time";
  r.payer_id = Text(delivery, "Payer/PayerIds/Id");
  if (!OptDate(delivery, "PaymentPeriod/PaymentDate", r.payment_date)) return "PaymentDate is not a date";
  if (!OptDate(delivery, "PaymentPeriod/StartDate", r.period_start)) return "PaymentPeriod StartDate is not a date";
  if (!OptDate(delivery, "PaymentPeriod/EndDate", r.period_end)) return "PaymentPeriod EndDate is not a date";
  if (r.action == ReportAction::kCancel) return "";
  if (r.period_start && r.period_end && *r.period_end < *r.period_start) return "PaymentPeriod ends before it starts";
  int index = 0;
  for (pugi::xml_node t : rep.child("Transactions").children("Transaction")) {
    ++index;
    IncomeTransaction x;
    pugi::xml_node basic = t.child("TransactionBasic");
    x.income_type = Text(basic, "TransactionCode");
    if (x.income_type.empty() || x.income_type.size() > 8 ||
        x.income_type.find_first_not_of("0123456789") != std::string::npos) {
      return fmt::format("transaction {}: TransactionCode is not an income type code", index);
    }
    auto cents = ParseAmountCents(Text(basic, "Amount"));
    if (!cents) return fmt::format("transaction {}: Amount is not a non-negative amount in euros", index);
    x.amount_cents = *cents;
    auto one_off = ParseBool(Text(basic, "OneOff"));
    auto recovery = ParseBool(Text(basic, "Recovery"));
    if (!one_off || !recovery) return fmt::format("transaction {}: OneOff or Recovery is not a boolean", index);
    x.one_off = *one_off;
    x.recovery = *recovery;
    // Several earning periods are summarised by their span.
    for (pugi::xml_node p : t.child("EarningPeriods").children("EarningPeriod")) {
      std::optional<Date> s, e;
      if (!OptDate(p, "StartDate", s) || !OptDate(p, "EndDate", e) || !s || !e || *e < *s) {
        return fmt::format("transaction {}: EarningPeriod is not a valid start and end date", index);
      }
      if (!x.earning_start || *s < *x.earning_start) x.earning_start = s;
      if (!x.earning_end || *e > *x.earning_end) x.earning_end = e;
    }
    r.transactions.push_back(std::move(x));
  }
  if (r.transactions.empty()) return "a new or replacement report has no Transactions";
  return "";
}

}  // namespace

std::string WriteIncomesQuery(const IncomesQuery& q) {
  const auto& v = kVocabulary;
  pugi::xml_document doc;
  auto decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  pugi::xml_node root = doc.append_child(v.query_root);
  root.append_child("QueryType").text().set(v.query_type);
  root.append_child(v.query_purpose).text().set(q.purpose.c_str());
  root.append_child("IncomeEarner").append_child("IncomeEarnerIds").append_child("Id").text().set(
      q.income_earner_id.c_str());
  root.append_child(v.query_received_start).text().set(q.received_start.c_str());
  root.append_child(v.query_received_end).text().set(q.received_end.c_str());
  std::ostringstream os;
  doc.save(os, "", pugi::format_raw);
  return os.str();
}

Result<std::vector<ParsedIncomeReport>> ParseIncomesAnswer(std::string_view xml) {
  pugi::xml_document doc;
  pugi::xml_parse_result ok = doc.load_buffer(xml.data(), xml.size(), pugi::parse_default, pugi::encoding_utf8);
  if (!ok) {
    return Status::Unavailable(fmt::format("the Incomes Register answer is not well-formed XML ({} at byte {})",
                                           ok.description(), ok.offset));
  }
  pugi::xml_node root = doc.child(kVocabulary.response_root);
  if (!root) return Status::Unavailable("the Incomes Register answer has an unexpected root element");
  std::vector<ParsedIncomeReport> out;
  for (pugi::xml_node delivery : root.children("DeliveryData")) {
    for (pugi::xml_node rep : delivery.child("Reports").children("Report")) {
      ParsedIncomeReport p;
      // The raw record keeps the delivery context a correction needs, without the other reports.
      pugi::xml_document one;
      pugi::xml_node d = one.append_child("DeliveryData");
      for (const char* part : {"PaymentPeriod", "Payer"}) {
        if (delivery.child(part)) d.append_copy(delivery.child(part));
      }
      d.append_child("Reports").append_copy(rep);
      p.raw = Serialize(d);
      p.income_earner_id = Text(rep, "IncomeEarner/IncomeEarnerIds/Id");
      IncomeReport r;
      std::string error = ParseReport(delivery, rep, r);
      if (error.empty() && p.income_earner_id.empty()) error = "Report has no IncomeEarner id";
      if (error.empty()) {
        p.report = std::move(r);
      } else {
        p.error = std::move(error);
      }
      out.push_back(std::move(p));
    }
  }
  return out;
}

std::optional<int64_t> ParseAmountCents(std::string_view s) {
  if (s.empty() || s.size() > 15) return std::nullopt;
  size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  auto digits = [](std::string_view d) { return d.find_first_not_of("0123456789") == std::string_view::npos; };
  if (whole.empty() || !digits(whole) || !digits(frac) || frac.size() > 2) return std::nullopt;
  if (dot != std::string_view::npos && frac.empty()) return std::nullopt;
  int64_t cents = 0;
  for (char c : whole) cents = cents * 10 + (c - '0');
  cents *= 100;
  if (frac.size() >= 1) cents += (frac[0] - '0') * 10;
  if (frac.size() == 2) cents += frac[1] - '0';
  return cents;
}

std::optional<std::chrono::system_clock::time_point> ParseUtcTimestamp(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS, optional .fraction, then Z.
  if (s.size() < 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s.back() != 'Z') return std::nullopt;
  auto date = Date::Parse(s.substr(0, 10));
  if (!date) return std::nullopt;
  auto two = [&](size_t at) -> int {
    if (!isdigit(static_cast<unsigned char>(s[at])) || !isdigit(static_cast<unsigned char>(s[at + 1]))) return -1;
    return (s[at] - '0') * 10 + (s[at + 1] - '0');
  };
  int h = two(11), m = two(14), sec = two(17);
  if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 59) return std::nullopt;
  int64_t ms = 0;
  std::string_view rest = s.substr(19, s.size() - 20);
  if (!rest.empty()) {
    if (rest[0] != '.' || rest.size() < 2 || rest.size() > 10) return std::nullopt;
    int64_t scale = 100;
    for (char c : rest.substr(1)) {
      if (!isdigit(static_cast<unsigned char>(c))) return std::nullopt;
      ms += (c - '0') * scale;
      scale /= 10;
    }
  }
  using namespace std::chrono;
  return system_clock::time_point(duration_cast<system_clock::duration>(
      days(date->days) + hours(h) + minutes(m) + seconds(sec) + milliseconds(ms)));
}

}  // namespace ennakko
