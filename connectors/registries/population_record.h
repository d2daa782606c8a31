// Parsing one line of a population file drop (docs/population-file-drop.md) into the edits it
// makes: a ResidentUpdate for the subject's own facts, and custody and placement changes that
// name other people or the city's placements.
//
// Parsing is pure (no store, no I/O) and total: any JSON text gives either a PopulationRecord or
// an InvalidArgument whose message says what is wrong and where (the group and field), never the
// values themselves, so the message can go to logs and the quarantine table. A record that passes
// here can still be rejected later for a reason that needs the store (a guardian nobody knows).
//
// JSON is parsed with simdjson (one parser per thread, kept for its buffers): the batch reader's
// parser thread was half the initial load's CPU with a DOM of nlohmann::json.
//
// Thread-safety: free functions over their arguments; safe to call from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/date.h"
#include "engine/base/hetu.h"
#include "engine/base/status.h"
#include "engine/store/population.h"

namespace ennakko {

// What a group entry's muutosattribuutti asks for.
enum class GroupChange {
  kSet,       // LISATTY, MUUTETTU, KORJATTU, LISATIETO: the entry states the group's new value
  kRemove,    // POISTETTU: the group's fact is gone (custody ended, placement removed, ...)
  kNoChange,  // KORJATTAVA: flagged for correction; the corrected value follows as KORJATTU
};

// HUOLTAJA_SUPPEA (other = the subject's guardian) or HUOLLETTAVA_SUPPEA (other = the ward).
struct CustodyChange {
  enum class Other { kGuardian, kWard };
  Other other_is = Other::kGuardian;
  GroupChange change = GroupChange::kSet;
  std::string other_hetu;  // valid identity code of the other party
  std::optional<Date> start;
  std::optional<Date> end;
};

// SIJOITUS: a placement from the city's education systems.
struct PlacementChange {
  GroupChange change = GroupChange::kSet;
  std::string kind;  // preschool (esiopetus) | ecec (varhaiskasvatus)
  Date start;
  std::optional<Date> end;
};

// LAPSI: a child of the subject. The relation itself is not stored (custody is what rules use);
// a child nobody knows yet is created from the code (a birth), so it is there for its own record.
struct ChildChange {
  GroupChange change = GroupChange::kSet;
  Hetu child;
};

struct PopulationRecord {
  // The person the record is about. After an active HENKILOTUNNUS_KORJAUS this is the corrected
  // (active) code, and former_codes holds the codes the person was known by.
  Hetu subject;
  std::vector<std::string> former_codes;
  FactEdit<PostalAddress> postal_address;  // KOTIMAINEN_POSTIOSOITE
  std::vector<ChildChange> children;
  std::optional<Date> change_date;  // muutospv; required in change batches
  ResidentUpdate update;
  std::vector<CustodyChange> custody;
  std::vector<PlacementChange> placements;
  std::vector<std::string> unknown_groups;  // group names we do not handle (ignored)
};

enum class BatchKind {
  kSnapshot,  // NNNNNN.snapshot.jsonl: perustiedot-shaped, muutosattribuutti optional
  kChanges,   // NNNNNN.changes.jsonl: muutokset entries, muutospv and muutosattribuutti required
};

// Parses one JSON Lines record. The message of an error names the group and field at fault.
Result<PopulationRecord> ParsePopulationRecord(std::string_view line, BatchKind kind);

// The placement kind stored for a SIJOITUS laji, or nullopt for a laji we do not know.
std::optional<std::string> PlacementKindOf(std::string_view laji);

}  // namespace ennakko
