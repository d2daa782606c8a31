// Reads the dispatch controls of the config file (dispatch.batch_size, rate_limits, quiet_hours,
// circuit_breaker, mailbox_status) into DispatcherOptions and MailboxStatusOptions. The shape is
// already checked by schemas/config.schema.json; this adds what a schema cannot say (a valid time
// of day), each problem with file:line:col.
#pragma once

#include "engine/dispatch/dispatcher.h"
#include "engine/dispatch/mailbox_status.h"
#include "engine/lang/diagnostics.h"
#include "engine/lang/yaml_source.h"

namespace ennakko {

void ReadDispatchControls(const YamlDocument& doc, DispatcherOptions& dispatch, MailboxStatusOptions& mailbox,
                          Diagnostics& diags);

}  // namespace ennakko
