#include "connectors/registries/vtj_connector.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "connectors/http/http_client.h"
#include "connectors/registries/population_apply.h"
#include "connectors/registries/population_record.h"
#include "engine/base/crypto.h"
#include "engine/store/population.h"

namespace ennakko {

namespace {

using json = nlohmann::json;

constexpr size_t kPerustiedotBatch = 1000;
constexpr std::chrono::seconds kDefaultRetryAfter{15};  // what a public client waits after 429

std::string LoadCursorName(const std::string& connector) { return connector + ".initial-load"; }

std::optional<int64_t> ParseKey(std::string_view text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0) return std::nullopt;
  return v;
}

// viimeisinKirjausavain: a number (interfaces.md) or, as some clients model it, a numeric string.
std::optional<int64_t> KeyOf(const json& doc) {
  auto it = doc.find("viimeisinKirjausavain");
  if (it == doc.end()) return std::nullopt;
  if (it->is_number_integer()) {
    int64_t v = it->get<int64_t>();
    return v >= 0 ? std::optional<int64_t>(v) : std::nullopt;
  }
  if (it->is_string()) return ParseKey(it->get_ref<const std::string&>());
  return std::nullopt;
}

std::string TrimSlash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

// One Poll's HTTP conversation: the URL, the credentials and how answers map to Status.
class VtjConnector::Session {
 public:
  explicit Session(const VtjConnectorOptions& o, std::optional<std::chrono::milliseconds>& retry)
      : o_(o), base_(TrimSlash(o.base_url)), retry_after_(retry) {}

  // Sends the call and returns the parsed JSON object of a 200 answer.
  Result<json> Call(const std::string& method, const std::string& path, const json* body) {
    std::map<std::string, std::string> headers = {
        {"Authorization", BasicAuthorization(o_.username, o_.password)},
        {"Accept", "application/json"}};
    if (body) headers["Content-Type"] = "application/json";
    auto r = HttpCall(method, base_ + path, body ? body->dump() : "", headers,
                      HttpCallOptions{.timeout = o_.timeout, .ca_file = o_.ca_file});
    const std::string what = fmt::format("{} {}", method, PathForLogs(path));
    if (!r.ok()) {
      if (r.status().code() == StatusCode::kUnavailable) {
        return Status::Unavailable(fmt::format("vtj: {}: {}", what, r.status().message()));
      }
      return r.status();
    }
    if (r->status == 429) {
      retry_after_ = RetryAfter(*r);
      return Status::ResourceExhausted(
          fmt::format("vtj: {}: 429 too many requests (retry after {} s)", what,
                      retry_after_->count() / 1000));
    }
    if (r->status >= 500) {
      return Status::Unavailable(fmt::format("vtj: {}: HTTP {}", what, r->status));
    }
    if (r->status == 401 || r->status == 403) {
      return Status::Permanent(
          fmt::format("vtj: {}: HTTP {}: the credentials were refused", what, r->status));
    }
    if (r->status != 200) {
      return Status::Permanent(fmt::format("vtj: {}: HTTP {}", what, r->status));
    }
    json doc = json::parse(r->body, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object()) {
      // A truncated or garbled answer: the next poll asks again.
      return Status::Unavailable(fmt::format("vtj: {}: the answer is not a JSON object", what));
    }
    return doc;
  }

 private:
  static std::string PathForLogs(const std::string& path) {
    return path.rfind("/api/v1/kirjausavain/", 0) == 0 ? "/api/v1/kirjausavain" : path;
  }

  static std::chrono::milliseconds RetryAfter(const HttpClientResult& r) {
    auto it = r.headers.find("retry-after");
    if (it != r.headers.end()) {
      if (auto s = ParseKey(it->second); s && *s < 24 * 3600) return std::chrono::seconds(*s);
    }
    return kDefaultRetryAfter;
  }

  const VtjConnectorOptions& o_;
  const std::string base_;
  std::optional<std::chrono::milliseconds>& retry_after_;
};

VtjConnector::VtjConnector(VtjConnectorOptions options, const Clock* clock)
    : options_(std::move(options)), clock_(clock) {
  static const SystemClock kSystemClock;
  if (!clock_) clock_ = &kSystemClock;
}

namespace {

// Applies one batch of records (already JSON objects) with the cursor advance `advance`.
Result<BatchOutcome> ApplyEntries(Db& db, PopulationStore& store, const BatchSource& source,
                                  const std::vector<std::string>& entries, BatchKind kind,
                                  const std::function<Status()>& check,
                                  const std::function<Status()>& advance) {
  std::vector<Result<PopulationRecord>> parsed;
  parsed.reserve(entries.size());
  for (const std::string& e : entries) parsed.push_back(ParsePopulationRecord(e, kind));
  auto feed = [&](PopulationApplier& applier) -> Status {
    for (size_t i = 0; i < entries.size(); ++i) {
      Result<PopulationRecord> rec = parsed[i];  // a copy: feed may run twice
      ENNAKKO_RETURN_IF_ERROR(applier.Apply(static_cast<int64_t>(i + 1), entries[i], rec));
    }
    return Status::Ok();
  };
  return ApplyPopulationBatch(db, store, source, feed, check, advance);
}

// The identity codes of the initial-load file, and a digest of them.
Result<std::pair<std::vector<std::string>, std::string>> ReadCodes(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::Unavailable(fmt::format("vtj: cannot read initial-load file {}", path));
  std::vector<std::string> codes;
  std::string all;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    all += line + "\n";
    codes.push_back(std::move(line));
  }
  return std::make_pair(std::move(codes), Sha256Hex(all).substr(0, 16));
}

// The other party of each custody group of a perustiedot person (VTJ nests the code:
// huoltaja / huollettava {henkilotunnus}; the file-drop form states it flat).
std::vector<std::string> CustodyParties(const json& person) {
  std::vector<std::string> out;
  auto groups = person.find("tietoryhmat");
  if (!person.is_object() || groups == person.end() || !groups->is_array()) return out;
  for (const json& g : *groups) {
    if (!g.is_object()) continue;
    const std::string name = g.value("tietoryhma", "");
    if (name != "HUOLTAJA_SUPPEA" && name != "HUOLLETTAVA_SUPPEA") continue;
    auto party = g.find(name == "HUOLTAJA_SUPPEA" ? "huoltaja" : "huollettava");
    const json& holder = party != g.end() && party->is_object() ? *party : g;
    auto code = holder.find("henkilotunnus");
    if (code != holder.end() && code->is_string()) out.push_back(code->get<std::string>());
  }
  return out;
}

}  // namespace

Result<ConnectorPollReport> VtjConnector::Poll(Db& db) {
  retry_after_.reset();
  Session http(options_, retry_after_);
  const std::string& name = options_.name;
  auto store_or = PopulationStore::Open(db);
  if (!store_or.ok()) return store_or.status();
  PopulationStore& store = **store_or;
  ConnectorPollReport report;
  // Residents changed by pages committed so far, this poll or a failed earlier one: reported with
  // the next successful poll, so a fault part-way never hides a committed change from the engine.
  std::set<int64_t>& changed = pending_changed_;

  auto cursor = store.GetCursor(name);
  if (!cursor.ok()) return cursor.status();
  std::optional<int64_t> key;
  if (*cursor) {
    key = ParseKey(**cursor);
    if (!key) return Status::FailedPrecondition(fmt::format("{}: stored cursor is not a key", name));
  } else {
    // First run: the key at the start date. Storing it applies nothing, so it needs no batch.
    auto doc = http.Call("GET", "/api/v1/kirjausavain/" + options_.start_date.ToString(), nullptr);
    if (!doc.ok()) return doc.status();
    key = KeyOf(*doc);
    if (!key) return Status::Unavailable("vtj: kirjausavain: the answer has no viimeisinKirjausavain");
    ENNAKKO_RETURN_IF_ERROR(store.SetCursor(name, std::to_string(*key),
                                            FormatTimestamp(clock_->Now())));
    spdlog::info("{}: starting from key {} (changes since {})", name, *key,
                 options_.start_date.ToString());
  }
  report.cursor = std::to_string(*key);
  int pages = 0;

  // Initial load: the configured identity codes through perustiedot, 1000 a call, each call's
  // records committed with the load's progress ("<digest>:<codes done>").
  if (!options_.initial_load_file.empty()) {
    auto codes = ReadCodes(options_.initial_load_file);
    if (!codes.ok()) return codes.status();
    const auto& [list, digest] = *codes;
    auto progress = store.GetCursor(LoadCursorName(name));
    if (!progress.ok()) return progress.status();
    size_t done = 0;
    std::unordered_map<std::string, size_t> position;  // code -> index in the list, when needed
    if (*progress && (*progress)->rfind(digest + ":", 0) == 0) {
      done = static_cast<size_t>(ParseKey((*progress)->substr(digest.size() + 1)).value_or(0));
    }
    while (done < list.size()) {
      if (pages >= options_.max_pages_per_poll) {
        report.caught_up = false;
        break;
      }
      const size_t end = std::min(list.size(), done + kPerustiedotBatch);
      json body = {{"hetulista", std::vector<std::string>(list.begin() + static_cast<long>(done),
                                                          list.begin() + static_cast<long>(end))}};
      auto doc = http.Call("POST", "/api/v1/perustiedot", &body);
      if (!doc.ok()) return doc.status();
      auto people = doc->find("henkilot");
      if (people == doc->end() || !people->is_array()) {
        return Status::Unavailable("vtj: perustiedot: the answer has no henkilot array");
      }
      std::vector<std::string> entries;
      for (const json& p : *people) entries.push_back(p.dump());
      // A family split by the call boundary: whom this call's records name as guardian or ward
      // and the list loads later are asked for in this call too (their own call loads them again,
      // harmlessly); else the relation could not be resolved and the record would be quarantined.
      if (position.empty()) {
        for (size_t i = 0; i < list.size(); ++i) position.emplace(list[i], i);
      }
      std::set<std::string> asked(list.begin() + static_cast<long>(done),
                                  list.begin() + static_cast<long>(end));
      std::vector<json> newest(people->begin(), people->end());
      for (int round = 0; round < 3 && !newest.empty(); ++round) {
        std::vector<std::string> later;
        for (const json& p : newest) {
          for (std::string& code : CustodyParties(p)) {
            auto at = position.find(code);
            if (at != position.end() && at->second >= end && later.size() < kPerustiedotBatch &&
                asked.insert(code).second) {
              later.push_back(std::move(code));
            }
          }
        }
        newest.clear();
        if (later.empty()) break;
        json related = {{"hetulista", later}};
        auto more = http.Call("POST", "/api/v1/perustiedot", &related);
        if (!more.ok()) return more.status();
        auto found = more->find("henkilot");
        if (found == more->end() || !found->is_array()) {
          return Status::Unavailable("vtj: perustiedot: the answer has no henkilot array");
        }
        for (const json& p : *found) {
          entries.push_back(p.dump());
          newest.push_back(p);
        }
      }
      const std::string fetched_at = FormatTimestamp(clock_->Now());
      const std::string next = fmt::format("{}:{}", digest, end);
      const BatchSource source{name, fmt::format("perustiedot@{}", next),
                               fmt::format("perustiedot:{}", end), fetched_at};
      auto out = ApplyEntries(
          db, store, source, entries, BatchKind::kSnapshot, [] { return Status::Ok(); },
          [&] { return store.SetCursor(LoadCursorName(name), next, fetched_at); });
      if (!out.ok()) return out.status();
      ++pages;
      ++report.batches_applied;
      report.records_applied += out->applied;
      report.records_quarantined += out->quarantined;
      changed.insert(out->affected.begin(), out->affected.end());
      spdlog::info("{}: initial load {}/{}: {} records, {} quarantined", name, end, list.size(),
                   out->applied, out->quarantined);
      done = end;
    }
  }

  // Changes, page by page, until ajanTasalla.
  while (report.caught_up) {
    if (pages >= options_.max_pages_per_poll) {
      report.caught_up = false;
      break;
    }
    json body = {{"viimeisinKirjausavain", *key}, {"hetulista", json::array()}};
    auto doc = http.Call("POST", "/api/v1/muutokset", &body);
    if (!doc.ok()) return doc.status();
    auto next = KeyOf(*doc);
    auto up_to_date = doc->find("ajanTasalla");
    auto changes = doc->find("muutokset");
    if (!next || up_to_date == doc->end() || !up_to_date->is_boolean() || changes == doc->end() ||
        !changes->is_array()) {
      return Status::Unavailable(
          "vtj: muutokset: the answer lacks viimeisinKirjausavain, ajanTasalla or muutokset");
    }
    if (*next < *key) {
      return Status::Unavailable(
          fmt::format("vtj: muutokset: the source's key went back from {} to {}", *key, *next));
    }
    if (changes->empty() && *next == *key) {
      // Nothing new; "not up to date" with nothing to give is the source's problem: wait.
      if (!up_to_date->get<bool>()) report.caught_up = false;
      break;
    }
    {
      std::vector<std::string> entries;
      entries.reserve(changes->size());
      for (const json& c : *changes) entries.push_back(c.dump());
      const std::string fetched_at = FormatTimestamp(clock_->Now());
      const BatchSource source{name, fmt::format("muutokset@{}", *next), std::to_string(*next),
                               fetched_at};
      const std::string expected = std::to_string(*key);
      auto check = [&]() -> Status {
        auto c = store.GetCursor(name);
        if (!c.ok()) return c.status();
        if (c->value_or("") != expected) {
          return Status::FailedPrecondition(
              fmt::format("{}: the cursor moved while polling (another poller?)", name));
        }
        return Status::Ok();
      };
      auto out = ApplyEntries(db, store, source, entries, BatchKind::kChanges, check, [&] {
        return store.SetCursor(name, std::to_string(*next), fetched_at);
      });
      if (!out.ok()) return out.status();
      ++pages;
      ++report.batches_applied;
      report.records_applied += out->applied;
      report.records_quarantined += out->quarantined;
      changed.insert(out->affected.begin(), out->affected.end());
      if (out->unknown_groups > 0) {
        std::string names;
        for (const auto& n : out->unknown_names) names += (names.empty() ? "" : ", ") + n;
        spdlog::debug("{}: ignored {} entries of groups we do not handle: {}", name,
                      out->unknown_groups, names);
      }
      spdlog::info("{}: applied changes up to key {}: {} records, {} quarantined, {} residents "
                   "affected", name, *next, out->applied, out->quarantined, out->affected.size());
      key = next;
      report.cursor = std::to_string(*key);
    }
    if (up_to_date->get<bool>()) break;
  }
  report.changed_residents.assign(changed.begin(), changed.end());
  changed.clear();
  return report;
}

}  // namespace ennakko
