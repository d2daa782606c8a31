// FileDropConnector: the population file drop (population_filedrop.h) as a RegistryConnector, so
// the daemon's ConnectorScheduler polls it like any other connector.
//
// A missing or unreadable drop directory is Unavailable (transient: backed off); every other
// error is the file drop's own. Each Poll applies every complete batch after the cursor, so it is
// always caught up. Thread-safety: as FileDropPopulationSource (one polling thread).
#pragma once

#include <chrono>

#include "connectors/registries/connector.h"
#include "connectors/registries/population_filedrop.h"

namespace ennakko {

class FileDropConnector final : public RegistryConnector {
 public:
  FileDropConnector(FileDropOptions options, std::chrono::milliseconds poll_every,
                    const Clock* clock = nullptr)
      : source_(std::move(options), clock), poll_every_(poll_every) {}
  std::string_view name() const override { return source_.options().connector_name; }
  std::chrono::milliseconds poll_every() const override { return poll_every_; }
  Result<ConnectorPollReport> Poll(Db& db) override;

 private:
  FileDropPopulationSource source_;
  std::chrono::milliseconds poll_every_;
};

}  // namespace ennakko
