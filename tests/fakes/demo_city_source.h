// The demo city (engine/demo: a synthetic population in the file-drop format) as the registries
// behind the test doubles would hold it, so that `deploy/run-demo.sh` can run the daemon against
// vtj_fake and incomes_fake serving the same city (`--population DIR` on both).
//
//  - VtjDataFromDemoCity: the snapshot becomes the persons perustiedot answers with, each change
//    batch line a dated muutokset entry (muutospv at 06:00 UTC), in batch order. Only the
//    population register's groups are served (SIJOITUS and YHTEYSTIEDOT are the city's own
//    registers: engine/demo IsCityRegisterGroup), in VTJ's shapes: HENKILON_NIMI `etunimi`, the
//    custody party nested ({"huoltaja": {"henkilotunnus"}}), the street address in its parts
//    (katunimi{fi}, katunumero, huoneistokirjain, huoneistonumero), postitoimipaikka{fi}.
//  - EarningsReportsFromDemoCity: earnings payment reports (the incomes_fake data file format,
//    <IncomesFakeData> with DeliveryData) for the guardians of the snapshot's children with an
//    ECEC placement that has not ended by `today`: one report each for the previous calendar
//    month, wages (income type 201), an amount from 1,500 to 7,499 € chosen by a hash of the
//    identity code; about one guardian in ten has none (no wages: the register answers with no
//    reports, and the family's earnings are the other guardian's).
//
// Invariants: deterministic in the directory's bytes (and `today`); identity codes are copied,
// never invented or logged; report ids do not contain them. A line that is not a record is skipped
// and counted, never fatal. Thread-safety: free functions without shared state.
#pragma once

#include <string>

#include "engine/base/date.h"
#include "engine/base/status.h"

namespace ennakko {

struct VtjDemoData {
  std::string henkilot;   // JSON array for VtjFake::SetPersons
  std::string muutokset;  // JSON array for VtjFake::AppendChanges
  int persons = 0;
  int changes = 0;
  int skipped_lines = 0;  // not records (malformed), or left with no register group
};

Result<VtjDemoData> VtjDataFromDemoCity(const std::string& dir);

struct DemoEarnings {
  std::string xml;         // for IncomesFake::AddReports
  int guardians = 0;       // guardians of children in ECEC
  int with_reports = 0;    // ... of whom this many have a report
};

Result<DemoEarnings> EarningsReportsFromDemoCity(const std::string& dir, Date today);

}  // namespace ennakko
