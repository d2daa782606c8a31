// `ennakko explain`: why one resident got (or did not get) a decision, from the live store.
//
// What it is for: an operator answering "why did this family get this letter?" evaluates the
// service's rule for one subject exactly as the daemon does (same store, same rules directory,
// same custody-in-force date) and sees the five conditions, the reasons, the recipients, every
// fact the rule declares with its value and provenance (source, change id, fetch time), the
// parameters in force with their legal sources, the rule-set revision, and the decision the
// daemon stored, with the differences if any.
//
// Invariants: nothing is written — not the store (opened read-only), not the audit log. Residents
// other than the subject appear only as pseudonyms; the subject's declared facts are shown because
// they are what is being explained (the output goes to the operator's terminal, never to a log).
// The JSON object is the single model: the text output is rendered from it.
//
// Thread-safety: functions; the Db passed in belongs to the calling thread.
#pragma once

#include <iosfwd>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "engine/audit/pseudonym.h"
#include "engine/base/date.h"
#include "engine/base/status.h"
#include "engine/eval/program.h"
#include "engine/store/sqlite.h"

namespace ennakko {

struct ExplainOptions {
  // The daemon's configuration: store path, rules directory, pseudonym key.
  std::string config_path = "deploy/ennakko.yaml";
  // The service id of the rule to evaluate (e.g. preschool-offer).
  std::string service;
  // The subject: an identity code, or its pseudonym "p-..." as it appears in the audit log.
  std::string subject;
  // Evaluation date YYYY-MM-DD; unset = today in Helsinki.
  std::optional<std::string> at;
  // Print one JSON object instead of text.
  bool json = false;
};

// The store id of the subject named by an identity code or a pseudonym. NotFound when no resident
// has it; InvalidArgument when `id` is neither.
Result<int64_t> FindSubject(Db& db, const Pseudonymizer& pseudonyms, const std::string& id);

// Evaluates `service` for the resident `subject_id` on `at` and returns the explanation object
// (see docs/operator-guide.md for its fields). InvalidArgument for a service the rules do not have.
Result<nlohmann::json> ExplainDecision(Db& db, const RuleSet& rules, const Pseudonymizer& pseudonyms,
                                       const std::string& service, int64_t subject_id, Date at);

// The explanation as aligned text for a terminal.
std::string RenderExplanation(const nlohmann::json& explanation);

// The command: exit 0 explained, 1 subject not found, 2 config, store, rules or usage error.
int RunExplain(const ExplainOptions& options, std::ostream& out, std::ostream& err);

}  // namespace ennakko
