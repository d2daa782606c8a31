#include "tests/fakes/vtj_fake_server.h"

#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "connectors/http/http_client.h"
#include "engine/api/http_server.h"
#include "engine/base/crypto.h"
#include "engine/base/date.h"

namespace ennakko {
namespace {

using json = nlohmann::json;

HttpResponse Json(int status, const json& body) {
  return HttpResponse{status, "application/json", body.dump()};
}

HttpResponse Error(int status, const std::string& message) {
  return Json(status, json{{"virhe", message}});
}

// The key under which a group's state is kept for a person: the group name, plus the other
// party's code for groups a person can hold several of (custody, children).
std::string GroupKey(const json& g) {
  std::string name = g.value("tietoryhma", "");
  for (const char* party : {"huoltaja", "huollettava", "lapsi"}) {
    if (g.contains(party) && g[party].is_object()) {
      return name + "/" + g[party].value("henkilotunnus", "");
    }
  }
  if (g.contains("henkilotunnus") && g["henkilotunnus"].is_string()) {
    return name + "/" + g["henkilotunnus"].get<std::string>();
  }
  return name;
}

}  // namespace

class VtjFake::Impl {
 public:
  static HttpServerOptions ServerOptions(const VtjFakeOptions& o) {
    HttpServerOptions s;
    s.address = o.address;
    s.port = o.port;
    s.threads = std::max(1, o.threads);
    s.max_body_bytes = 8 << 20;
    return s;
  }

  explicit Impl(VtjFakeOptions options)
      : options_(std::move(options)),
        server_(ServerOptions(options_)),
        expected_auth_(BasicAuthorization(options_.username, options_.password)),
        page_size_(std::max<size_t>(1, options_.page_size)) {
    Api("GET", "/api/v1/kirjausavain/*", [this](const HttpRequest& r) { return Key(r); });
    Api("POST", "/api/v1/muutokset", [this](const HttpRequest& r) { return Changes(r); });
    Api("POST", "/api/v1/perustiedot", [this](const HttpRequest& r) { return Basics(r); });
    Control("POST", "/_test/changes", [this](const HttpRequest& r) {
      json body = json::parse(r.body, nullptr, false);
      if (!body.is_object() || !body.contains("muutokset")) return Error(400, "muutokset missing");
      auto key = Append(body["muutokset"]);
      if (!key.ok()) return Error(400, key.status().message());
      return Json(200, json{{"viimeisinKirjausavain", *key}});
    });
    Control("POST", "/_test/persons", [this](const HttpRequest& r) {
      json body = json::parse(r.body, nullptr, false);
      if (!body.is_object() || !body.contains("henkilot")) return Error(400, "henkilot missing");
      Status st = Persons(body["henkilot"]);
      if (!st.ok()) return Error(400, st.message());
      return HttpResponse{204, "text/plain", ""};
    });
    Control("POST", "/_test/faults", [this](const HttpRequest& r) {
      json b = json::parse(r.body, nullptr, false);
      if (!b.is_object()) return Error(400, "a JSON object expected");
      VtjFakeFault f;
      f.status = b.value("status", b.contains("delivery") ? 0 : 500);
      f.count = b.value("count", 1);
      f.path = b.value("path", "");
      f.delay_ms = b.value("delayMs", 0);
      f.retry_after_s = b.value("retryAfter", 0);
      f.delivery = b.value("delivery", "");
      AddFault(std::move(f));
      return HttpResponse{204, "text/plain", ""};
    });
    Control("POST", "/_test/config", [this](const HttpRequest& r) {
      json b = json::parse(r.body, nullptr, false);
      if (!b.is_object() || !b.contains("pageSize") || !b["pageSize"].is_number_unsigned()) {
        return Error(400, "pageSize expected");
      }
      SetPageSize(b["pageSize"].get<size_t>());
      return HttpResponse{204, "text/plain", ""};
    });
    Control("GET", "/_test/stats", [this](const HttpRequest&) {
      VtjFakeStats s = Stats();
      return Json(200, json{{"muutoksetRequests", s.muutokset_requests},
                            {"perustiedotRequests", s.perustiedot_requests},
                            {"kirjausavainRequests", s.kirjausavain_requests},
                            {"unauthorized", s.unauthorized},
                            {"lastKey", s.last_key}});
    });
  }

  HttpServer& server() { return server_; }
  const VtjFakeOptions& options() const { return options_; }

  Status Load() {
    if (options_.data_file.empty()) return Status::Ok();
    std::ifstream in(options_.data_file);
    if (!in) return Status::Invalid("cannot read " + options_.data_file);
    std::stringstream text;
    text << in.rdbuf();
    json doc = json::parse(text.str(), nullptr, false);
    if (!doc.is_object()) return Status::Invalid(options_.data_file + ": a JSON object expected");
    if (doc.contains("henkilot")) ENNAKKO_RETURN_IF_ERROR(Persons(doc["henkilot"]));
    if (doc.contains("muutokset")) {
      auto key = Append(doc["muutokset"]);
      if (!key.ok()) return key.status();
    }
    return Status::Ok();
  }

  Result<int64_t> Append(const json& changes) {
    if (!changes.is_array()) return Status::Invalid("muutokset must be an array");
    for (const json& c : changes) {
      if (!c.is_object() || !c.contains("muutospv") || !c["muutospv"].is_string() ||
          !c.contains("tietoryhmat") || !c["tietoryhmat"].is_array()) {
        return Status::Invalid("each change needs henkilotunnus, muutospv and tietoryhmat");
      }
    }
    std::lock_guard lock(mu_);
    for (const json& c : changes) {
      const int64_t key = LastKey() + 1;
      log_.push_back(Entry{key, c["muutospv"].get<std::string>().substr(0, 10), c});
      UpdateState(c);
    }
    return LastKey();
  }

  Status Persons(const json& persons) {
    if (!persons.is_array()) return Status::Invalid("henkilot must be an array");
    std::lock_guard lock(mu_);
    for (const json& p : persons) {
      if (!p.is_object() || !p.contains("henkilotunnus") || !p["henkilotunnus"].is_string()) {
        return Status::Invalid("each person needs a henkilotunnus");
      }
      persons_.erase(p["henkilotunnus"].get<std::string>());
      UpdateState(p);
    }
    return Status::Ok();
  }

  void AddFault(VtjFakeFault f) {
    std::lock_guard lock(mu_);
    if (f.count > 0) faults_.push_back(std::move(f));
  }
  void SetPageSize(size_t n) {
    std::lock_guard lock(mu_);
    page_size_ = std::max<size_t>(1, n);
  }
  VtjFakeStats Stats() const {
    std::lock_guard lock(mu_);
    VtjFakeStats s = stats_;
    s.last_key = LastKey();
    return s;
  }

 private:
  struct Entry {
    int64_t key;
    std::string date;  // YYYY-MM-DD of muutospv
    json change;
  };

  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  void Control(const char* method, const char* path, Handler h) {
    server_.AddRoute(method, path, std::move(h), false);
  }

  // An API route: HTTP Basic, then an injected fault (if any), then the handler.
  void Api(const char* method, const char* path, Handler h) {
    server_.AddRoute(method, path, [this, h = std::move(h)](const HttpRequest& r) {
      auto auth = r.headers.find("authorization");
      if (auth == r.headers.end() || !ConstantTimeEquals(auth->second, expected_auth_)) {
        std::lock_guard lock(mu_);
        ++stats_.unauthorized;
        HttpResponse res = Error(401, "authentication required");
        res.headers["WWW-Authenticate"] = "Basic realm=\"vtj\"";
        return res;
      }
      std::optional<VtjFakeFault> fault = TakeFault(r.path);
      if (fault && fault->delay_ms > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(fault->delay_ms));
      }
      if (fault && fault->delivery == "drop") {
        HttpResponse res;
        res.delivery = HttpResponse::Delivery::kDrop;
        return res;
      }
      if (fault && fault->delivery == "malformed") {
        return HttpResponse{200, "application/json", R"({"viimeisinKirjausavain": 12, "muutok)"};
      }
      if (fault && fault->delivery.empty() && fault->status != 0) {
        HttpResponse res = Error(fault->status, "injected fault");
        if (fault->status == 429 && fault->retry_after_s > 0) {
          res.headers["Retry-After"] = std::to_string(fault->retry_after_s);
        }
        return res;
      }
      HttpResponse res;
      if (fault && fault->delivery == "duplicate" && r.path == "/api/v1/muutokset") {
        std::lock_guard lock(mu_);
        res = last_changes_answer_.value_or(Error(500, "nothing to duplicate yet"));
      } else {
        res = h(r);
      }
      if (fault && fault->delivery == "truncate") res.delivery = HttpResponse::Delivery::kTruncate;
      return res;
    }, false);
  }

  std::optional<VtjFakeFault> TakeFault(const std::string& path) {
    std::lock_guard lock(mu_);
    for (auto it = faults_.begin(); it != faults_.end(); ++it) {
      if (!it->path.empty() && it->path != path) continue;
      VtjFakeFault f = *it;
      if (--it->count <= 0) faults_.erase(it);
      return f;
    }
    return std::nullopt;
  }

  int64_t LastKey() const { return log_.empty() ? options_.base_key : log_.back().key; }

  // Folds a change (or a person's full record) into the person's current groups.
  void UpdateState(const json& record) {
    std::string code = record.value("henkilotunnus", "");
    for (const json& g : record["tietoryhmat"]) {
      if (!g.is_object()) continue;
      const std::string attr = g.value("muutosattribuutti", "LISATTY");
      if (g.value("tietoryhma", "") == "HENKILOTUNNUS_KORJAUS") {
        if (g.value("voimassaolo", "AKTIIVI") != "AKTIIVI") continue;
        std::string active = g.value("aktiivinenHenkilotunnus", "");
        if (active.empty() || active == code) continue;
        auto& moved = persons_[active];
        for (auto& [k, v] : persons_[code]) moved[k] = v;
        persons_.erase(code);
        code = active;
        continue;
      }
      if (attr == "KORJATTAVA") continue;
      auto& groups = persons_[code];
      if (attr == "POISTETTU") {
        groups.erase(GroupKey(g));
        continue;
      }
      json stored = g;
      stored.erase("muutosattribuutti");
      groups[GroupKey(g)] = std::move(stored);
    }
  }

  HttpResponse Key(const HttpRequest& r) {
    const std::string prefix = "/api/v1/kirjausavain/";
    std::string date = r.path.substr(prefix.size());
    if (!Date::Parse(date)) return Error(400, "a date YYYY-MM-DD expected");
    std::lock_guard lock(mu_);
    ++stats_.kirjausavain_requests;
    int64_t key = options_.base_key;
    for (const Entry& e : log_) {
      if (e.date < date) key = e.key;
    }
    return Json(200, json{{"viimeisinKirjausavain", key}});
  }

  HttpResponse Changes(const HttpRequest& r) {
    json b = json::parse(r.body, nullptr, false);
    if (!b.is_object() || !b.contains("viimeisinKirjausavain") ||
        !b["viimeisinKirjausavain"].is_number_integer()) {
      return Error(400, "viimeisinKirjausavain (a number) expected");
    }
    if (b.contains("hetulista") && !b["hetulista"].is_array()) {
      return Error(400, "hetulista must be an array");
    }
    const int64_t from = b["viimeisinKirjausavain"].get<int64_t>();
    std::set<std::string> only;
    if (b.contains("hetulista")) {
      for (const json& h : b["hetulista"]) {
        if (h.is_string()) only.insert(h.get<std::string>());
      }
    }
    std::lock_guard lock(mu_);
    ++stats_.muutokset_requests;
    json out = json::array();
    int64_t key = from;
    bool up_to_date = true;
    for (const Entry& e : log_) {
      if (e.key <= from) continue;
      if (out.size() >= page_size_) {
        up_to_date = false;
        break;
      }
      key = e.key;
      if (!only.empty() && !only.count(e.change.value("henkilotunnus", ""))) continue;
      out.push_back(e.change);
    }
    HttpResponse res = Json(
        200, json{{"viimeisinKirjausavain", key}, {"ajanTasalla", up_to_date}, {"muutokset", out}});
    last_changes_answer_ = res;
    return res;
  }

  HttpResponse Basics(const HttpRequest& r) {
    json b = json::parse(r.body, nullptr, false);
    if (!b.is_object() || !b.contains("hetulista") || !b["hetulista"].is_array()) {
      return Error(400, "hetulista expected");
    }
    if (b["hetulista"].size() > 1000) return Error(400, "at most 1000 identity codes a call");
    std::set<std::string> groups;
    if (b.contains("tietoryhmat") && b["tietoryhmat"].is_array()) {
      for (const json& g : b["tietoryhmat"]) {
        if (g.is_string()) groups.insert(g.get<std::string>());
      }
    }
    std::lock_guard lock(mu_);
    ++stats_.perustiedot_requests;
    json people = json::array();
    for (const json& h : b["hetulista"]) {
      if (!h.is_string()) continue;
      auto it = persons_.find(h.get<std::string>());
      if (it == persons_.end()) continue;
      json list = json::array();
      for (const auto& [k, g] : it->second) {
        if (groups.empty() || groups.count(g.value("tietoryhma", ""))) list.push_back(g);
      }
      people.push_back(json{{"henkilotunnus", it->first}, {"tietoryhmat", list}});
    }
    return Json(200, json{{"henkilot", people}});
  }

  const VtjFakeOptions options_;
  HttpServer server_;
  const std::string expected_auth_;

  mutable std::mutex mu_;
  size_t page_size_;                                             // protected by mu_
  std::vector<Entry> log_;                                       // protected by mu_
  std::map<std::string, std::map<std::string, json>> persons_;  // protected by mu_
  std::deque<VtjFakeFault> faults_;                              // protected by mu_
  std::optional<HttpResponse> last_changes_answer_;              // protected by mu_
  VtjFakeStats stats_;                                           // protected by mu_
};

VtjFake::VtjFake(VtjFakeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
VtjFake::~VtjFake() { Stop(); }

Status VtjFake::Start() {
  ENNAKKO_RETURN_IF_ERROR(impl_->Load());
  return impl_->server().Start();
}
uint16_t VtjFake::port() const { return impl_->server().port(); }
std::string VtjFake::base_url() const {
  return "http://" + impl_->options().address + ":" + std::to_string(port());
}
void VtjFake::Stop() { impl_->server().Stop(std::chrono::seconds(2)); }

Result<int64_t> VtjFake::AppendChanges(std::string_view text) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) return Status::Invalid("not JSON");
  return impl_->Append(doc);
}
Status VtjFake::SetPersons(std::string_view text) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) return Status::Invalid("not JSON");
  return impl_->Persons(doc);
}
void VtjFake::InjectFault(VtjFakeFault fault) { impl_->AddFault(std::move(fault)); }
void VtjFake::SetPageSize(size_t page_size) { impl_->SetPageSize(page_size); }
VtjFakeStats VtjFake::stats() const { return impl_->Stats(); }

}  // namespace ennakko
