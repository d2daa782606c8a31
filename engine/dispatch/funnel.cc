#include "engine/dispatch/funnel.h"

#include <map>

#include <fmt/format.h>

namespace ennakko {

Result<std::vector<FunnelRow>> ComputeFunnel(Db& db, const std::string& service, const std::string& period) {
  std::map<std::pair<std::string, std::string>, FunnelRow> rows;
  auto row = [&](const std::string& s, const std::string& p) -> FunnelRow& {
    FunnelRow& r = rows[{s, p}];
    r.service = s;
    r.period = p;
    return r;
  };
  const char* filter = " AND (?1 = '' OR service = ?1) AND (?2 = '' OR period = ?2) ";
  {
    auto st = db.Prepare(std::string("SELECT service, period, count(*) FROM decisions WHERE verdict = 'eligible'") +
                         filter + "GROUP BY service, period");
    if (!st.ok()) return st.status();
    st->Bind(1, service).Bind(2, period);
    for (;;) {
      auto r = st->Step();
      if (!r.ok()) return r.status();
      if (!*r) break;
      row(st->Text(0), st->Text(1)).eligible = st->Int(2);
    }
  }
  {
    auto st = db.Prepare(
        std::string("SELECT service, period, "
                    "count(DISTINCT CASE WHEN sent_at IS NOT NULL THEN subject_id END), "
                    "count(DISTINCT CASE WHEN delivered_at IS NOT NULL THEN subject_id END), "
                    "count(DISTINCT CASE WHEN outcome IS NOT NULL THEN subject_id END), "
                    "count(DISTINCT CASE WHEN outcome = 'accepted' THEN subject_id END) "
                    "FROM outbox WHERE kind = 'offer'") +
        filter + "GROUP BY service, period");
    if (!st.ok()) return st.status();
    st->Bind(1, service).Bind(2, period);
    for (;;) {
      auto r = st->Step();
      if (!r.ok()) return r.status();
      if (!*r) break;
      FunnelRow& f = row(st->Text(0), st->Text(1));
      f.offered = st->Int(2);
      f.delivered = st->Int(3);
      f.responded = st->Int(4);
      f.accepted = st->Int(5);
    }
  }
  std::vector<FunnelRow> out;
  for (auto& [key, r] : rows) out.push_back(std::move(r));
  return out;
}

std::string FormatFunnelTable(const std::vector<FunnelRow>& rows) {
  std::string out = fmt::format("{:<24} {:<10} {:>9} {:>15} {:>15} {:>15} {:>15}\n", "SERVICE", "PERIOD", "ELIGIBLE",
                                "OFFERED", "DELIVERED", "RESPONDED", "ACCEPTED");
  auto cell = [](int64_t n, int64_t of) {
    return of > 0 ? fmt::format("{} ({:.0f}%)", n, 100.0 * static_cast<double>(n) / static_cast<double>(of))
                  : fmt::format("{}", n);
  };
  for (const auto& r : rows) {
    out += fmt::format("{:<24} {:<10} {:>9} {:>15} {:>15} {:>15} {:>15}\n", r.service, r.period, r.eligible,
                       cell(r.offered, r.eligible), cell(r.delivered, r.eligible), cell(r.responded, r.eligible),
                       cell(r.accepted, r.eligible));
  }
  if (rows.empty()) out += "(no decisions or offers match)\n";
  return out;
}

}  // namespace ennakko
