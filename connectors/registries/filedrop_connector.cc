#include "connectors/registries/filedrop_connector.h"

namespace ennakko {

Result<ConnectorPollReport> FileDropConnector::Poll(Db& db) {
  auto polled = source_.Poll(db);
  if (!polled.ok()) return polled.status();
  ConnectorPollReport r;
  r.batches_applied = polled->batches_applied;
  r.records_applied = polled->records_applied;
  r.records_quarantined = polled->records_quarantined;
  r.changed_residents = std::move(polled->affected_resident_ids);
  r.cursor = std::move(polled->cursor);
  r.caught_up = true;
  return r;
}

}  // namespace ennakko
