#include "engine/dispatch/service_pauses.h"

namespace ennakko {

Result<bool> ServicePauses::Pause(std::string_view service, std::string_view by) {
  auto st = db_.Prepare(
      "INSERT INTO service_pauses (service, paused_at, paused_by) VALUES (?, ?, ?) ON CONFLICT(service) DO NOTHING");
  if (!st.ok()) return st.status();
  st->Bind(1, service).Bind(2, FormatTimestamp(clock_.Now())).Bind(3, by);
  ENNAKKO_RETURN_IF_ERROR(st->Run());
  return db_.Changes() > 0;
}

Result<bool> ServicePauses::Resume(std::string_view service) {
  auto st = db_.Prepare("DELETE FROM service_pauses WHERE service = ?");
  if (!st.ok()) return st.status();
  st->Bind(1, service);
  ENNAKKO_RETURN_IF_ERROR(st->Run());
  return db_.Changes() > 0;
}

Result<std::vector<ServicePause>> ServicePauses::List() {
  auto st = db_.Prepare("SELECT service, paused_at, paused_by FROM service_pauses ORDER BY service");
  if (!st.ok()) return st.status();
  std::vector<ServicePause> out;
  for (;;) {
    auto row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back({st->Text(0), st->Text(1), st->Text(2)});
  }
  return out;
}

}  // namespace ennakko
