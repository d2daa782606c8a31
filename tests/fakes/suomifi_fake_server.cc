#include "tests/fakes/suomifi_fake_server.h"

#include <cctype>
#include <ctime>
#include <set>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "engine/api/http_server.h"
#include "engine/base/hetu.h"

namespace ennakko {
namespace {

using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

HttpResponse Json(int status, const json& body) {
  return HttpResponse{status, "application/json", body.dump()};
}

HttpResponse Reason(int status, const std::string& reason) {
  return Json(status, json{{"reason", reason}});
}

HttpResponse Invalid(const std::string& error, const std::string& code = {}) {
  json v = {{"error", error}};
  if (!code.empty()) v["errorCode"] = code;
  return Json(400, json{{"reason", "Bad request"}, {"validationErrors", json::array({v})}});
}

// Code points in valid UTF-8 (JSON Schema's maxLength counts characters, not bytes).
size_t Characters(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// The string at `j[key]` when it is a string of minLen..maxLen characters.
std::optional<std::string> StringField(const json& j, const char* key, size_t min_len,
                                       size_t max_len) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return std::nullopt;
  std::string s = j[key].get<std::string>();
  size_t n = Characters(s);
  if (n < min_len || n > max_len) return std::nullopt;
  return s;
}

bool OneOf(const json& j, const char* key, std::initializer_list<const char*> allowed) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return false;
  const std::string& v = j[key].get_ref<const std::string&>();
  for (const char* a : allowed) {
    if (v == a) return true;
  }
  return false;
}

std::string Iso8601Now() {
  std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

}  // namespace

class SuomiFiFake::Impl {
 public:
  static HttpServerOptions ServerOptions(const SuomiFiFakeOptions& o) {
    HttpServerOptions s;
    s.address = o.address;
    s.port = o.port;
    s.threads = std::max(1, o.threads);
    s.max_body_bytes = 10485760;  // the API's limit (attachments); 10,000 mailbox ids fit
    return s;
  }

  explicit Impl(SuomiFiFakeOptions options)
      : options_(std::move(options)), server_(ServerOptions(options_)) {
    Route("POST", "/v1/token", [this](const HttpRequest& r) { return Token(r); });
    Route("POST", "/v1/mailboxes/active", [this](const HttpRequest& r) { return Mailboxes(r); });
    Route("POST", "/v2/messages/electronic", [this](const HttpRequest& r) { return Electronic(r); });
    Route("GET", "/v2/events", [this](const HttpRequest& r) { return Events(r); });
    AddPaperMailRoutes();
    server_.AddRoute("GET", "/_test/messages", [this](const HttpRequest&) { return ListJson(); },
                     false);
    server_.AddRoute("GET", "/_test/stats", [this](const HttpRequest&) {
      SuomiFiFakeStats s = Stats();
      return Json(200, json{{"tokenRequests", s.token_requests},
                            {"messageRequests", s.message_requests},
                            {"tokensIssued", s.tokens_issued},
                            {"mailboxRequests", s.mailbox_requests},
                            {"attachmentRequests", s.attachment_requests},
                            {"multichannelRequests", s.multichannel_requests}});
    }, false);
    server_.AddRoute("POST", "/_test/faults", [this](const HttpRequest& r) { return Faults(r); },
                     false);
    server_.AddRoute("POST", "/_test/expire-tokens", [this](const HttpRequest&) {
      ExpireTokens();
      return HttpResponse{204, "text/plain", ""};
    }, false);
    AddEventRoutes();
  }

  // --- delivery events (replies branch) -------------------------------------------------------
  void AddEventRoutes() {
    server_.AddRoute("POST", "/_test/events", [this](const HttpRequest& r) {
      json req = json::parse(r.body, nullptr, false);
      if (!req.is_object() || !req.contains("messageId") || !req["messageId"].is_number_integer() ||
          !req.contains("type") || !req["type"].is_string()) {
        return Reason(400, "expected {messageId, type, postiTrackingCode?}");
      }
      Status st = AddEvent(req["messageId"].get<int64_t>(), req["type"].get<std::string>(),
                           req.value("postiTrackingCode", std::string()));
      return st.ok() ? HttpResponse{204, "text/plain", ""} : Reason(404, st.message());
    }, false);
  }

  Status AddEvent(int64_t message_id, const std::string& type, const std::string& tracking) {
    std::lock_guard lock(mu_);
    for (const SuomiFiFakeMessage& m : messages_) {
      if (m.message_id != message_id) continue;
      json meta = {{"messageId", m.message_id}, {"serviceId", m.service_id}, {"externalId", m.external_id}};
      if (!tracking.empty()) meta["postiTrackingCode"] = tracking;
      events_.push_back(json{{"type", type}, {"eventTime", Iso8601Now()}, {"metadata", meta}});
      return Status::Ok();
    }
    return Status::NotFound("no message " + std::to_string(message_id));
  }
  // --- end of delivery events -------------------------------------------------------------------

  HttpServer& server() { return server_; }

  std::vector<SuomiFiFakeMessage> Messages() const {
    std::lock_guard lock(mu_);
    return messages_;
  }
  SuomiFiFakeStats Stats() const {
    std::lock_guard lock(mu_);
    return stats_;
  }
  void AddFault(SuomiFiFakeFault f) {
    std::lock_guard lock(mu_);
    if (f.count > 0) faults_.push_back(std::move(f));
  }
  void ExpireTokens() {
    std::lock_guard lock(mu_);
    for (auto& [token, expiry] : tokens_) expiry = SteadyClock::time_point::min();
  }

 private:
  // Registers an API route whose requests first meet the fault queue.
  void Route(const char* method, std::string path, std::function<HttpResponse(const HttpRequest&)> h) {
    server_.AddRoute(method, path, [this, path, h](const HttpRequest& r) {
      std::optional<SuomiFiFakeFault> fault = TakeFault(path);
      if (fault) {
        if (fault->delay_ms > 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(fault->delay_ms));
        }
        if (fault->status != 0) {
          json body = {{"reason", "injected fault"}};
          HttpResponse response = Json(fault->status, body);
          if (fault->retry_after_s > 0) {
            body["retryAfter"] = fault->retry_after_s;
            response = Json(fault->status, body);
            response.headers["Retry-After"] = std::to_string(fault->retry_after_s);
          }
          return response;
        }
      }
      return h(r);
    }, false);
  }

  std::optional<SuomiFiFakeFault> TakeFault(const std::string& path) {
    std::lock_guard lock(mu_);
    for (auto it = faults_.begin(); it != faults_.end(); ++it) {
      if (!it->path.empty() && it->path != path) continue;
      SuomiFiFakeFault f = *it;
      if (--it->count <= 0) faults_.erase(it);
      return f;
    }
    return std::nullopt;
  }

  // True when the request carries a live token. REQUIRES: mu_ held.
  bool AuthorizedLocked(const HttpRequest& r) const {
    auto h = r.headers.find("authorization");
    if (h == r.headers.end() || !h->second.starts_with("Bearer ")) return false;
    auto t = tokens_.find(h->second.substr(7));
    return t != tokens_.end() && SteadyClock::now() < t->second;
  }

  HttpResponse Token(const HttpRequest& r) {
    json req = json::parse(r.body, nullptr, false);
    std::lock_guard lock(mu_);
    ++stats_.token_requests;
    auto user = StringField(req, "username", 0, 1024);
    auto pass = StringField(req, "password", 0, 1024);
    if (!user || !pass || *user != options_.username || *pass != options_.password) {
      return Reason(400, "Authentication failed");
    }
    std::string token = "fake-" + std::to_string(++stats_.tokens_issued) + "-" +
                        std::to_string(rng_());
    tokens_[token] = SteadyClock::now() + options_.token_lifetime;
    return Json(200, json{{"access_token", token},
                          {"token_type", "Bearer"},
                          {"expires_in", options_.token_lifetime.count()}});
  }

  bool ActiveLocked(const std::string& id) const {
    switch (options_.mailboxes) {
      case SuomiFiFakeOptions::Mailboxes::kAll: return true;
      case SuomiFiFakeOptions::Mailboxes::kNone: return false;
      case SuomiFiFakeOptions::Mailboxes::kList: return options_.active_ids.contains(id);
      case SuomiFiFakeOptions::Mailboxes::kOddIndividualNumber: {
        auto hetu = ParseHetu(id);
        return hetu.ok() && hetu->individual_number % 2 == 1;
      }
    }
    return false;
  }

  HttpResponse Mailboxes(const HttpRequest& r) {
    json req = json::parse(r.body, nullptr, false);
    std::lock_guard lock(mu_);
    if (!AuthorizedLocked(r)) return Reason(401, "Unauthorized");
    ++stats_.mailbox_requests;
    if (!req.is_object() || !req.contains("endUsers") || !req["endUsers"].is_array()) {
      return Reason(400, "endUsers is required");
    }
    const json& users = req["endUsers"];
    if (users.empty() || users.size() > 10000) return Reason(400, "endUsers must hold 1..10000 ids");
    json active = json::array();
    for (const json& u : users) {
      auto id = StringField(u, "id", 9, 11);
      if (!id) return Reason(400, "endUsers[].id must be 9..11 characters");
      if (ActiveLocked(*id)) active.push_back(json{{"id", *id}});
    }
    return Json(200, json{{"endUsersWithActiveMailbox", active}});
  }

  // Checks the request against messages.api.rest.v2.ElectronicMessageRequestBody; returns the
  // 400 to send, or nullopt when valid.
  static std::optional<HttpResponse> Validate(const json& req) {
    if (!req.is_object()) return Reason(400, "request body is not a JSON object");
    if (!StringField(req, "externalId", 1, 256)) return Invalid("externalId must be 1..256 characters");
    if (!req.contains("recipient") || !StringField(req["recipient"], "id", 9, 11)) {
      return Invalid("recipient.id must be 9..11 characters");
    }
    if (!req.contains("sender") || !StringField(req["sender"], "serviceId", 1, 64)) {
      return Invalid("sender.serviceId must be 1..64 characters");
    }
    if (!req.contains("electronic") || !req["electronic"].is_object()) {
      return Invalid("electronic is required");
    }
    const json& e = req["electronic"];
    if (!StringField(e, "title", 1, 256)) return Invalid("electronic.title must be 1..256 characters");
    if (!StringField(e, "body", 1, 40000)) return Invalid("electronic.body must be 1..40000 characters");
    if (!OneOf(e, "bodyFormat", {"Text", "Markdown"})) return Invalid("electronic.bodyFormat is invalid");
    if (!OneOf(e, "messageServiceType", {"Normal", "Verifiable"})) {
      return Invalid("electronic.messageServiceType is invalid");
    }
    if (!OneOf(e, "replyAllowedBy", {"Anyone", "No one"})) return Invalid("electronic.replyAllowedBy is invalid");
    if (!OneOf(e, "visibility", {"Normal", "Recipient only"})) return Invalid("electronic.visibility is invalid");
    if (!e.contains("attachments") || !e["attachments"].is_array() || e["attachments"].size() > 50) {
      return Invalid("electronic.attachments must be an array of at most 50");
    }
    if (!e.contains("notifications") || !e["notifications"].is_object()) {
      return Invalid("electronic.notifications is required");
    }
    const json& n = e["notifications"];
    if (!OneOf(n, "senderDetailsInNotifications", {"Organisation and service name", "None"})) {
      return Invalid("electronic.notifications.senderDetailsInNotifications is invalid");
    }
    if (!n.contains("unreadMessageNotification") ||
        !OneOf(n["unreadMessageNotification"], "reminder", {"Default reminder", "No reminders"})) {
      return Invalid("electronic.notifications.unreadMessageNotification.reminder is invalid");
    }
    return std::nullopt;
  }

  HttpResponse Electronic(const HttpRequest& r) {
    json req = json::parse(r.body, nullptr, false);
    std::lock_guard lock(mu_);
    if (!AuthorizedLocked(r)) return Reason(401, "Unauthorized");
    ++stats_.message_requests;
    if (auto bad = Validate(req)) return *bad;
    std::string external_id = req["externalId"];
    if (auto it = by_external_id_.find(external_id); it != by_external_id_.end()) {
      return Json(409, json{{"reason", "External ID already in use"}, {"messageId", it->second}});
    }
    std::string recipient = req["recipient"]["id"];
    if (!ActiveLocked(recipient)) {
      return Invalid("Recipient mailbox is not active", "MAILBOX_NOT_IN_USE");
    }
    const json& e = req["electronic"];
    SuomiFiFakeMessage m{next_message_id_++,
                         external_id,
                         recipient,
                         req["sender"]["serviceId"].get<std::string>(),
                         e["title"].get<std::string>(),
                         e["body"].get<std::string>(),
                         e["bodyFormat"].get<std::string>()};
    by_external_id_[external_id] = m.message_id;
    events_.push_back(json{{"type", "Electronic message created"},
                           {"eventTime", Iso8601Now()},
                           {"metadata", {{"messageId", m.message_id},
                                         {"serviceId", m.service_id},
                                         {"externalId", m.external_id}}}});
    messages_.push_back(std::move(m));
    return Json(200, json{{"messageId", messages_.back().message_id}});
  }

  HttpResponse Events(const HttpRequest& r) {
    std::lock_guard lock(mu_);
    if (!AuthorizedLocked(r)) return Reason(401, "Unauthorized");
    size_t from = 0;
    if (auto t = r.query.find("continuationToken"); t != r.query.end() && !t->second.empty()) {
      // Opaque to clients; here "c<offset>".
      if (t->second.size() < 2 || t->second[0] != 'c' ||
          t->second.find_first_not_of("0123456789", 1) != std::string::npos) {
        return Reason(400, "invalid continuationToken");
      }
      from = std::stoull(t->second.substr(1));
      if (from > events_.size()) return Reason(400, "invalid continuationToken");
    }
    size_t to = std::min(events_.size(), from + std::max<size_t>(1, options_.events_page_size));
    json page = json::array();
    for (size_t i = from; i < to; ++i) page.push_back(events_[i]);
    return Json(200, json{{"events", page}, {"continuationToken", "c" + std::to_string(to)}});
  }

  HttpResponse ListJson() const {
    json out = json::array();
    for (const SuomiFiFakeMessage& m : Messages()) {
      json j{{"messageId", m.message_id}, {"externalId", m.external_id},
             {"recipientId", m.recipient_id}, {"serviceId", m.service_id},
             {"title", m.title}, {"body", m.body}, {"bodyFormat", m.body_format},
             {"endpoint", m.endpoint}, {"deliveredAs", m.delivered_as}};
      if (m.paper) j["paperMail"] = PaperMailJson(*m.paper);
      out.push_back(std::move(j));
    }
    return Json(200, out);
  }

  HttpResponse Faults(const HttpRequest& r) {
    json req = json::parse(r.body, nullptr, false);
    if (!req.is_object()) return Reason(400, "expected {status, count, path?, delayMs?, retryAfter?}");
    SuomiFiFakeFault f;
    f.status = req.value("status", 500);
    f.count = req.value("count", 1);
    f.path = req.value("path", std::string());
    f.delay_ms = req.value("delayMs", 0);
    f.retry_after_s = req.value("retryAfter", 0);
    AddFault(std::move(f));
    return HttpResponse{204, "text/plain", ""};
  }

  // ---- Paper mail: POST /v2/attachments and POST /v2/messages (multichannel). ----------------

  void AddPaperMailRoutes() {
    Route("POST", "/v2/attachments", [this](const HttpRequest& r) { return UploadAttachment(r); });
    Route("POST", "/v2/messages", [this](const HttpRequest& r) { return Multichannel(r); });
    server_.AddRoute("GET", "/_test/attachments", [this](const HttpRequest&) {
      json out = json::array();
      for (const SuomiFiFakeAttachment& a : Attachments()) {
        out.push_back(json{{"attachmentId", a.id}, {"filename", a.filename},
                           {"contentType", a.content_type}, {"size", a.bytes.size()},
                           {"used", a.used}});
      }
      return Json(200, out);
    }, false);
    server_.AddRoute("GET", "/_test/attachment", [this](const HttpRequest& r) {
      auto id = r.query.find("id");
      std::lock_guard lock(mu_);
      auto it = id == r.query.end() ? attachments_.end() : attachments_.find(id->second);
      if (it == attachments_.end()) return Reason(404, "no such attachment");
      return HttpResponse{200, it->second.content_type, it->second.bytes};
    }, false);
  }

 public:
  std::vector<SuomiFiFakeAttachment> Attachments() const {
    std::lock_guard lock(mu_);
    std::vector<SuomiFiFakeAttachment> out;
    for (const auto& [id, a] : attachments_) out.push_back(a);
    return out;
  }

 private:
  static json PaperMailJson(const SuomiFiFakePaperMail& p) {
    return json{{"attachmentId", p.attachment_id},
                {"recipientAddress", {{"name", p.recipient_name}, {"streetAddress", p.recipient_street},
                                      {"zipCode", p.recipient_zip}, {"city", p.recipient_city},
                                      {"countryCode", p.recipient_country}}},
                {"senderAddress", {{"name", p.sender_name}, {"streetAddress", p.sender_street},
                                   {"zipCode", p.sender_zip}, {"city", p.sender_city},
                                   {"countryCode", p.sender_country}}},
                {"createAddressPage", p.create_address_page},
                {"colorPrinting", p.color_printing},
                {"twoSidedPrinting", p.two_sided_printing}};
  }

  // The parts of a multipart/form-data body: (name, filename, content type, bytes). Empty when
  // the body is not multipart with the boundary of `content_type`.
  struct FormPart {
    std::string name, filename, content_type, bytes;
  };
  static std::vector<FormPart> ParseMultipart(const std::string& content_type,
                                              const std::string& body) {
    std::vector<FormPart> parts;
    const size_t b = content_type.find("boundary=");
    if (!content_type.starts_with("multipart/form-data") || b == std::string::npos) return parts;
    std::string boundary = content_type.substr(b + 9);
    if (auto semi = boundary.find(';'); semi != std::string::npos) boundary.resize(semi);
    if (boundary.size() >= 2 && boundary.front() == '"') boundary = boundary.substr(1, boundary.size() - 2);
    const std::string delimiter = "--" + boundary;
    size_t pos = body.find(delimiter);
    while (pos != std::string::npos) {
      pos += delimiter.size();
      if (body.compare(pos, 2, "--") == 0) break;  // the closing delimiter
      if (body.compare(pos, 2, "\r\n") != 0) break;
      pos += 2;
      const size_t headers_end = body.find("\r\n\r\n", pos);
      if (headers_end == std::string::npos) break;
      const size_t next = body.find("\r\n" + delimiter, headers_end + 4);
      if (next == std::string::npos) break;
      FormPart part;
      std::string headers = body.substr(pos, headers_end - pos);
      auto param = [&](const std::string& key) {
        size_t k = headers.find(key + "=\"");
        if (k == std::string::npos) return std::string();
        size_t start = k + key.size() + 2, end = headers.find('"', start);
        return end == std::string::npos ? std::string() : headers.substr(start, end - start);
      };
      part.name = param(" name");
      part.filename = param("filename");
      std::string lower = headers;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (size_t ct = lower.find("content-type:"); ct != std::string::npos) {
        size_t start = headers.find_first_not_of(' ', ct + 13);
        size_t end = headers.find("\r\n", start);
        part.content_type = headers.substr(start, end == std::string::npos ? std::string::npos : end - start);
      }
      part.bytes = body.substr(headers_end + 4, next - headers_end - 4);
      parts.push_back(std::move(part));
      pos = next + 2;
    }
    return parts;
  }

  std::string NewUuidLocked() {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id;
    for (int i = 0; i < 32; ++i) {
      if (i == 8 || i == 12 || i == 16 || i == 20) id += '-';
      id += kHex[rng_() % 16];
    }
    return id;
  }

  HttpResponse UploadAttachment(const HttpRequest& r) {
    auto ct = r.headers.find("content-type");
    std::vector<FormPart> parts =
        ParseMultipart(ct == r.headers.end() ? std::string() : ct->second, r.body);
    std::lock_guard lock(mu_);
    if (!AuthorizedLocked(r)) return Reason(401, "Unauthorized");
    ++stats_.attachment_requests;
    const FormPart* file = nullptr;
    for (const FormPart& p : parts) {
      if (p.name == "file") file = &p;
    }
    if (!file) return Reason(400, "multipart/form-data with a part named file is required");
    static const std::set<std::string> kSupported = {
        "application/msword", "application/pdf", "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint", "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "image/jpeg", "image/png", "text/plain"};
    if (!kSupported.contains(file->content_type)) return Reason(415, "Unsupported media type");
    SuomiFiFakeAttachment a{NewUuidLocked(), file->filename, file->content_type, file->bytes, false};
    std::string id = a.id;
    attachments_[id] = std::move(a);
    return Json(201, json{{"attachmentId", id}});
  }

  // Address per messages.api.rest.v2.Address; countryCode checked as two capital letters.
  static bool AddressOk(const json& holder) {
    if (!holder.is_object() || !holder.contains("address")) return false;
    const json& a = holder["address"];
    if (!StringField(a, "name", 1, 256) || !StringField(a, "streetAddress", 1, 256) ||
        !StringField(a, "zipCode", 1, 64) || !StringField(a, "city", 1, 256)) {
      return false;
    }
    auto cc = StringField(a, "countryCode", 2, 2);
    return cc && std::isupper(static_cast<unsigned char>((*cc)[0])) &&
           std::isupper(static_cast<unsigned char>((*cc)[1]));
  }

  // Checks paperMail (messages.api.rest.v2.PaperMailPart) and its attachment. REQUIRES: mu_ held.
  std::optional<HttpResponse> ValidatePaperMailLocked(const json& req) const {
    if (!req.contains("paperMail") || !req["paperMail"].is_object()) return Invalid("paperMail is required");
    const json& p = req["paperMail"];
    if (!p.contains("attachments") || !p["attachments"].is_array() || p["attachments"].size() != 1) {
      return Invalid("paperMail.attachments must hold exactly one attachment");
    }
    auto id = StringField(p["attachments"][0], "attachmentId", 36, 36);
    if (!id) return Invalid("paperMail.attachments[0].attachmentId must be a uuid");
    auto a = attachments_.find(*id);
    if (a == attachments_.end()) return Invalid("paperMail.attachments[0]: unknown attachment");
    if (a->second.content_type != "application/pdf" || !a->second.bytes.starts_with("%PDF-")) {
      return Invalid("paperMail.attachments[0] must be a PDF");
    }
    for (const char* flag : {"colorPrinting", "createAddressPage", "rotateLandscapePages", "twoSidedPrinting"}) {
      if (!p.contains(flag) || !p[flag].is_boolean()) return Invalid(std::string("paperMail.") + flag + " is required");
    }
    if (!OneOf(p, "messageServiceType", {"Normal", "Verifiable"})) {
      return Invalid("paperMail.messageServiceType is invalid");
    }
    if (!p.contains("recipient") || !AddressOk(p["recipient"])) {
      return Invalid("paperMail.recipient.address needs name, streetAddress, zipCode, city, countryCode");
    }
    if (!p.contains("sender") || !AddressOk(p["sender"])) {
      return Invalid("paperMail.sender.address needs name, streetAddress, zipCode, city, countryCode");
    }
    const json* posti = nullptr;
    if (p.contains("printingAndEnvelopingService") && p["printingAndEnvelopingService"].is_object() &&
        p["printingAndEnvelopingService"].contains("postiMessaging")) {
      posti = &p["printingAndEnvelopingService"]["postiMessaging"];
    }
    if (!posti || !StringField(*posti, "username", 6, 6) || !StringField(*posti, "password", 4, 4) ||
        !posti->contains("contactDetails") || !StringField((*posti)["contactDetails"], "email", 5, 256)) {
      return Invalid("paperMail.printingAndEnvelopingService.postiMessaging is invalid");
    }
    const json& pes = p["printingAndEnvelopingService"];
    if (pes.contains("costPool")) {
      auto pool = StringField(pes, "costPool", 1, 15);
      if (!pool || pool->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != std::string::npos) {
        return Invalid("paperMail.printingAndEnvelopingService.costPool is invalid");
      }
    }
    return std::nullopt;
  }

  HttpResponse Multichannel(const HttpRequest& r) {
    json req = json::parse(r.body, nullptr, false);
    std::lock_guard lock(mu_);
    if (!AuthorizedLocked(r)) return Reason(401, "Unauthorized");
    ++stats_.multichannel_requests;
    if (auto bad = Validate(req)) return *bad;
    if (auto bad = ValidatePaperMailLocked(req)) return *bad;
    std::string external_id = req["externalId"];
    if (auto it = by_external_id_.find(external_id); it != by_external_id_.end()) {
      return Json(409, json{{"reason", "External ID already in use"}, {"messageId", it->second}});
    }
    const json& e = req["electronic"];
    const json& p = req["paperMail"];
    SuomiFiFakeMessage m{next_message_id_++,
                         external_id,
                         req["recipient"]["id"].get<std::string>(),
                         req["sender"]["serviceId"].get<std::string>(),
                         e["title"].get<std::string>(),
                         e["body"].get<std::string>(),
                         e["bodyFormat"].get<std::string>()};
    m.endpoint = "multichannel";
    m.delivered_as = ActiveLocked(m.recipient_id) ? "electronic" : "paper";
    const json& ra = p["recipient"]["address"];
    const json& sa = p["sender"]["address"];
    m.paper = SuomiFiFakePaperMail{p["attachments"][0]["attachmentId"], ra["name"], ra["streetAddress"],
                                   ra["zipCode"], ra["city"], ra["countryCode"], sa["name"],
                                   sa["streetAddress"], sa["zipCode"], sa["city"], sa["countryCode"],
                                   p["createAddressPage"], p["colorPrinting"], p["twoSidedPrinting"]};
    attachments_[m.paper->attachment_id].used = true;
    by_external_id_[external_id] = m.message_id;
    events_.push_back(json{{"type", m.delivered_as == "paper" ? "Paper mail created" : "Electronic message created"},
                           {"eventTime", Iso8601Now()},
                           {"metadata", {{"messageId", m.message_id},
                                         {"serviceId", m.service_id},
                                         {"externalId", m.external_id}}}});
    messages_.push_back(std::move(m));
    return Json(200, json{{"messageId", messages_.back().message_id}});
  }

  // ---- End of paper mail. ----------------------------------------------------------------------

  const SuomiFiFakeOptions options_;
  HttpServer server_;

  mutable std::mutex mu_;
  // Protected by mu_:
  std::map<std::string, SteadyClock::time_point> tokens_;
  std::map<std::string, int64_t> by_external_id_;
  std::vector<SuomiFiFakeMessage> messages_;
  std::vector<json> events_;
  std::map<std::string, SuomiFiFakeAttachment> attachments_;  // by attachmentId
  std::deque<SuomiFiFakeFault> faults_;
  SuomiFiFakeStats stats_;
  int64_t next_message_id_ = 9000001;
  std::mt19937_64 rng_{std::random_device{}()};
};

SuomiFiFake::SuomiFiFake(SuomiFiFakeOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
SuomiFiFake::~SuomiFiFake() { Stop(); }
Status SuomiFiFake::Start() { return impl_->server().Start(); }
uint16_t SuomiFiFake::port() const { return impl_->server().port(); }
std::string SuomiFiFake::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port());
}
void SuomiFiFake::Stop() { impl_->server().Stop(); }
std::vector<SuomiFiFakeMessage> SuomiFiFake::messages() const { return impl_->Messages(); }
std::vector<SuomiFiFakeAttachment> SuomiFiFake::attachments() const { return impl_->Attachments(); }
SuomiFiFakeStats SuomiFiFake::stats() const { return impl_->Stats(); }
void SuomiFiFake::InjectFault(SuomiFiFakeFault fault) { impl_->AddFault(std::move(fault)); }
void SuomiFiFake::ExpireTokens() { impl_->ExpireTokens(); }
// --- delivery events (replies branch) ---
Status SuomiFiFake::AddEvent(int64_t message_id, const std::string& type, const std::string& tracking) {
  return impl_->AddEvent(message_id, type, tracking);
}

}  // namespace ennakko
