// The reply funnel of each service and campaign (period): how many children were eligible, were
// offered the service (an offer sent to a guardian), had it delivered, had an answer, and had it
// accepted. Every stage counts children (subjects), not messages, so a child with two guardians
// counts once and the stages are comparable; a stage counts a child when any of its offers got
// that far. Reminders are not offers. Read-only queries; not thread-safe (one Db per thread).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/base/status.h"
#include "engine/store/sqlite.h"

namespace ennakko {

struct FunnelRow {
  std::string service;
  std::string period;
  int64_t eligible = 0;
  int64_t offered = 0;
  int64_t delivered = 0;
  int64_t responded = 0;
  int64_t accepted = 0;
};

// Rows sorted by service and period; empty filters mean all.
Result<std::vector<FunnelRow>> ComputeFunnel(Db& db, const std::string& service = {}, const std::string& period = {});

// A fixed-width table with a header and each stage's share of the eligible, for `report funnel`.
std::string FormatFunnelTable(const std::vector<FunnelRow>& rows);

}  // namespace ennakko
