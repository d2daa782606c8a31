// A test double of the VTJ change-data interface (VTJ-muutosrajapinta, ../shared/domain/
// interfaces.md) with in-memory state, for unit tests (in process) and end-to-end tests (the
// vtj_fake binary).
//
// API endpoints (JSON, HTTP Basic required on every one: 401 with WWW-Authenticate otherwise):
//   GET  /api/v1/kirjausavain/{YYYY-MM-DD} -> {"viimeisinKirjausavain": long}: the key of the last
//        log entry dated before that day (the base key when there is none), so that polling from
//        it returns every change dated on or after the day. 400 for a bad date.
//   POST /api/v1/muutokset {"viimeisinKirjausavain", "hetulista"} -> {"viimeisinKirjausavain",
//        "ajanTasalla", "muutokset":[{"henkilotunnus","muutospv","tietoryhmat":[...]}]}: the
//        log entries after the given key, at most options.page_size of them; the returned key is
//        that of the last entry returned (the given one when nothing is new) and ajanTasalla is
//        true when nothing follows it. A non-empty hetulista restricts the entries to those
//        persons; an empty one means every person the credentials may see (the city's feed).
//   POST /api/v1/perustiedot {"hetulista", "tietoryhmat"?} -> {"henkilot":[{"henkilotunnus",
//        "tietoryhmat":[...]}]}: the current groups of each listed person who is known
//        (restricted to the named groups when tietoryhmat is given). 400 for more than 1000 codes.
// The state of a person is the groups last stated for them (changes update it too); an
// HENKILOTUNNUS_KORJAUS change moves the state from the old code (aiempiHenkilotunnus) to the new.
//
// Test-only control endpoints (no auth):
//   POST /_test/changes {"muutokset":[...]} -> 200 {"viimeisinKirjausavain"}: appends dated
//        changes to the log (each gets the next key) and updates the persons' state.
//   POST /_test/persons {"henkilot":[...]} -> 204: sets persons' state without logging changes.
//   POST /_test/faults {status?, count?, path?, delayMs?, retryAfter?, delivery?} -> 204: the next
//        `count` (1) API requests (to `path` only, when given) wait delayMs, then: with delivery
//        "drop" the connection is closed without an answer; "truncate" sends half the body;
//        "malformed" answers 200 with a body that is not JSON; "duplicate" (muutokset only) answers
//        with the previous muutokset answer again, byte for byte; otherwise, when status != 0, the
//        answer is `status` (429 carries Retry-After: retryAfter seconds). Faults queue up.
//   POST /_test/config {"pageSize"} -> 204.
//   GET  /_test/stats -> {"muutoksetRequests","perustiedotRequests","kirjausavainRequests",
//        "unauthorized","lastKey"}.
// Data file (options.data_file): {"henkilot":[...], "muutokset":[...]} as the two endpoints above.
//
// Identity codes are never logged (HttpServer logs method, path and status only; the kirjausavain
// path carries only a date).
// Thread-safety: all state is behind one mutex; the accessors may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "engine/base/status.h"

namespace ennakko {

struct VtjFakeOptions {
  // Where to listen; port 0 picks a free one (read it back with port()).
  std::string address = "127.0.0.1";
  uint16_t port = 0;
  // The only HTTP Basic credentials accepted.
  std::string username = "ennakko";
  std::string password = "vtj-test-password";
  // The most changes one muutokset answer holds.
  size_t page_size = 100;
  // The key before the first log entry (what kirjausavain returns for a date before everything).
  int64_t base_key = 1000;
  // A JSON file to load at construction ({"henkilot", "muutokset"}); empty: start empty.
  std::string data_file = {};
  // I/O threads: injected delays block one each.
  int threads = 4;
};

struct VtjFakeFault {
  int status = 500;           // 0: no status fault (delay only, or a delivery fault)
  int count = 1;              // how many matching requests it applies to
  std::string path = {};      // empty: any API path (not /_test/*)
  int delay_ms = 0;           // wait before answering
  int retry_after_s = 0;      // the Retry-After header of a 429
  std::string delivery = {};  // "", "drop", "truncate", "malformed", "duplicate"
};

struct VtjFakeStats {
  int muutokset_requests = 0;
  int perustiedot_requests = 0;
  int kirjausavain_requests = 0;
  int unauthorized = 0;
  int64_t last_key = 0;  // the key of the newest log entry (base_key when empty)
};

class VtjFake {
 public:
  explicit VtjFake(VtjFakeOptions options = {});
  ~VtjFake();
  VtjFake(const VtjFake&) = delete;
  VtjFake& operator=(const VtjFake&) = delete;

  // Loads options.data_file (InvalidArgument when unreadable) and starts serving.
  Status Start();
  uint16_t port() const;
  std::string base_url() const;  // http://127.0.0.1:PORT
  void Stop();

  // The same as the control endpoints, for in-process tests. JSON text as documented above.
  Result<int64_t> AppendChanges(std::string_view muutokset_json_array);
  Status SetPersons(std::string_view henkilot_json_array);
  void InjectFault(VtjFakeFault fault);
  void SetPageSize(size_t page_size);
  VtjFakeStats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ennakko
