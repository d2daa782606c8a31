// `ennakko serve`: the always-on daemon. Wires the concrete store, connectors, channels, engine,
// dispatcher, audit log and HTTP API together and runs the main loop until SIGINT/SIGTERM.
//
// The main loop runs on one thread that owns the SQLite connection: poll the population source,
// re-evaluate when facts or rules changed, drain the outbox, update metrics. A signal thread turns
// SIGINT/SIGTERM into a stop request (the batch in flight finishes, unattempted offers stay queued)
// and SIGHUP into a rule reload (load aside, swap on success, keep the last good set on failure).
#pragma once

#include <string>

namespace ennakko {

// Returns the process exit code: 0 after a clean stop, 2 for a configuration or start-up error.
int RunServe(const std::string& config_path);

}  // namespace ennakko
