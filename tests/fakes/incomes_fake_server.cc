#include "tests/fakes/incomes_fake_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <ctime>
#include <deque>
#include <iomanip>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <pugixml.hpp>

// A transport we control byte by byte: dropped connections and truncated bodies are faults the
// daemon's HTTP server (engine/api) rightly cannot produce, so this double has its own minimal
// HTTP/1.1 server (one request per connection, "Connection: close").

namespace ennakko {

namespace {

constexpr const char* kQueryPath = "/incomes-register/v1/earnings-payment-reports";

std::string Base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += k[(n >> s) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t n = uint8_t(in[i]) << 16;
    out += k[(n >> 18) & 63];
    out += k[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += k[(n >> 18) & 63];
    out += k[(n >> 12) & 63];
    out += k[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

struct Request {
  std::string method, path, body;
  std::map<std::string, std::string> headers;  // lower-case names
};

struct Response {
  int status = 200;
  std::string content_type = "application/xml; charset=utf-8";
  std::string body;
  std::map<std::string, std::string> headers;
  enum class Transport { kNormal, kDrop, kTruncate } transport = Transport::kNormal;
};

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

bool SendAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t k = ::send(fd, data, n, MSG_NOSIGNAL);
    if (k <= 0) return false;
    data += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

// Reads one request; false on a closed, timed-out or oversized request.
bool ReadRequest(int fd, Request& r) {
  std::string buf;
  char chunk[4096];
  size_t header_end;
  while ((header_end = buf.find("\r\n\r\n")) == std::string::npos) {
    if (buf.size() > 64 * 1024) return false;
    ssize_t k = ::recv(fd, chunk, sizeof chunk, 0);
    if (k <= 0) return false;
    buf.append(chunk, static_cast<size_t>(k));
  }
  std::istringstream head(buf.substr(0, header_end));
  std::string line;
  std::getline(head, line);
  std::istringstream first(line);
  std::string target;
  first >> r.method >> target;
  r.path = target.substr(0, target.find('?'));
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    size_t v = line.find_first_not_of(' ', colon + 1);
    r.headers[name] = v == std::string::npos ? "" : line.substr(v);
  }
  size_t length = 0;
  if (auto it = r.headers.find("content-length"); it != r.headers.end()) {
    try {
      length = std::stoul(it->second);
    } catch (...) {
      return false;
    }
  }
  if (length > (8u << 20)) return false;
  r.body = buf.substr(header_end + 4);
  while (r.body.size() < length) {
    ssize_t k = ::recv(fd, chunk, sizeof chunk, 0);
    if (k <= 0) return false;
    r.body.append(chunk, static_cast<size_t>(k));
  }
  r.body.resize(length);
  return true;
}

void Write(int fd, const Response& resp) {
  if (resp.transport == Response::Transport::kDrop) return;
  std::string head = "HTTP/1.1 " + std::to_string(resp.status) + " " + Reason(resp.status) + "\r\n";
  head += "Server: incomes-fake\r\nConnection: close\r\n";
  head += "Content-Type: " + resp.content_type + "\r\n";
  head += "Content-Length: " + std::to_string(resp.body.size()) + "\r\n";
  for (const auto& [k, v] : resp.headers) head += k + ": " + v + "\r\n";
  head += "\r\n";
  if (!SendAll(fd, head.data(), head.size())) return;
  size_t n = resp.transport == Response::Transport::kTruncate ? resp.body.size() / 2 : resp.body.size();
  SendAll(fd, resp.body.data(), n);
}

struct StoredReport {
  std::string earner;
  std::chrono::system_clock::time_point received;
  std::string delivery_context;  // DeliveryData without Reports, serialized
  std::string report;            // the Report element, serialized
};

std::optional<std::chrono::system_clock::time_point> ParseTime(const std::string& s) {
  // YYYY-MM-DDTHH:MM:SS[.fff]Z, parsed independently of the connector's parser.
  std::tm tm{};
  std::istringstream in(s);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return std::nullopt;
  double frac = 0;
  if (in.peek() == '.') {
    std::string digits;
    in.get();
    while (std::isdigit(in.peek())) digits += static_cast<char>(in.get());
    if (!digits.empty()) frac = std::stod("0." + digits);
  }
  if (in.get() != 'Z') return std::nullopt;
  time_t secs = timegm(&tm);
  return std::chrono::system_clock::from_time_t(secs) +
         std::chrono::milliseconds(static_cast<int64_t>(frac * 1000 + 0.5));
}

std::string Serialize(const pugi::xml_node& n) {
  std::ostringstream os;
  n.print(os, "", pugi::format_raw);
  return os.str();
}

}  // namespace

class IncomesFake::Impl {
 public:
  explicit Impl(IncomesFakeOptions o) : options_(std::move(o)) {
    auth_ = "Basic " + Base64(options_.username + ":" + options_.password);
  }
  ~Impl() { Stop(); }

  Status Start() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd_ < 0) return Status::Unavailable("socket() failed");
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(options_.port);
    if (::inet_pton(AF_INET, options_.address.c_str(), &addr.sin_addr) != 1) {
      return Status::Invalid("bad address " + options_.address);
    }
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 64) != 0) {
      ::close(listen_fd_);
      listen_fd_ = -1;
      return Status::Unavailable("cannot listen on " + options_.address + ":" + std::to_string(options_.port));
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
    return Status::Ok();
  }

  void Stop() {
    if (listen_fd_ < 0) return;
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    if (acceptor_.joinable()) acceptor_.join();
    ::close(listen_fd_);
    listen_fd_ = -1;
    std::vector<Connection> threads;
    {
      std::lock_guard lock(conn_mu_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
      threads.swap(threads_);
    }
    for (auto& c : threads) c.thread.join();
  }

  uint16_t port() const { return port_; }

  Status AddReports(const std::string& xml) {
    pugi::xml_document doc;
    if (!doc.load_buffer(xml.data(), xml.size())) return Status::Invalid("reports: not well-formed XML");
    std::vector<StoredReport> added;
    for (pugi::xml_node d : doc.document_element().children("DeliveryData")) {
      pugi::xml_document context;
      pugi::xml_node c = context.append_copy(d);
      c.remove_child("Reports");
      std::string context_xml = Serialize(c);
      for (pugi::xml_node r : d.child("Reports").children("Report")) {
        auto received = ParseTime(r.child("ReportData").child("ReceivedTimestamp").text().as_string());
        if (!received) return Status::Invalid("reports: a Report has no valid ReportData/ReceivedTimestamp");
        added.push_back({r.first_element_by_path("IncomeEarner/IncomeEarnerIds/Id").text().as_string(), *received,
                         context_xml, Serialize(r)});
      }
    }
    std::lock_guard lock(mu_);
    reports_.insert(reports_.end(), added.begin(), added.end());
    return Status::Ok();
  }

  std::vector<IncomesFakeQuery> queries() const {
    std::lock_guard lock(mu_);
    return queries_;
  }
  void InjectFault(IncomesFakeFault f) {
    std::lock_guard lock(mu_);
    faults_.push_back(f);
  }
  void Reset() {
    std::lock_guard lock(mu_);
    reports_.clear();
    queries_.clear();
    faults_.clear();
  }

 private:
  void Accept() {
    while (!stopping_) {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) {
        if (stopping_) return;
        continue;
      }
      timeval tv{10, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      std::lock_guard lock(conn_mu_);
      // Join the connections that are done, so a long-running double does not pile up threads.
      for (auto it = threads_.begin(); it != threads_.end();) {
        if (*it->done) {
          it->thread.join();
          it = threads_.erase(it);
        } else {
          ++it;
        }
      }
      open_fds_.insert(fd);
      auto done = std::make_shared<std::atomic<bool>>(false);
      threads_.push_back({std::thread([this, fd, done] {
                            Serve(fd);
                            *done = true;
                          }),
                          done});
    }
  }

  void Serve(int fd) {
    Request req;
    if (ReadRequest(fd, req)) Write(fd, Handle(req));
    {
      std::lock_guard lock(conn_mu_);
      open_fds_.erase(fd);
    }
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  }

  void SleepMs(int ms) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!stopping_ && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  static Response Plain(int status, std::string body) {
    Response r;
    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    r.body = std::move(body);
    return r;
  }

  Response Handle(const Request& req) {
    if (req.path == "/_test/reports" && req.method == "POST") {
      Status st = AddReports(req.body);
      return st.ok() ? Plain(204, "") : Plain(400, st.message());
    }
    if (req.path == "/_test/reset" && req.method == "POST") {
      Reset();
      return Plain(204, "");
    }
    if (req.path == "/_test/queries" && req.method == "GET") {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& q : queries()) {
        out.push_back({{"incomeEarner", q.income_earner}, {"purpose", q.purpose}, {"start", q.start}, {"end", q.end}});
      }
      Response r = Plain(200, out.dump());
      r.content_type = "application/json";
      return r;
    }
    if (req.path == "/_test/faults" && req.method == "POST") {
      auto j = nlohmann::json::parse(req.body, nullptr, false);
      if (!j.is_object() || !j.contains("kind") || !j["kind"].is_string()) return Plain(400, "need {kind}");
      IncomesFakeFault f;
      f.kind = j["kind"];
      f.count = j.value("count", 1);
      f.status = j.value("status", 503);
      f.retry_after_s = j.value("retryAfter", 0);
      f.delay_ms = j.value("delayMs", 0);
      InjectFault(f);
      return Plain(204, "");
    }
    if (req.path == kQueryPath) {
      if (req.method != "POST") return Plain(405, "POST only");
      return Query(req);
    }
    return Plain(404, "not found");
  }

  Response Query(const Request& req) {
    auto auth = req.headers.find("authorization");
    if (auth == req.headers.end() || auth->second != auth_) {
      Response r = Plain(401, "authentication required");
      r.headers["WWW-Authenticate"] = "Basic realm=\"incomes-register\"";
      return r;
    }
    pugi::xml_document doc;
    if (!doc.load_buffer(req.body.data(), req.body.size())) return Plain(400, "query: not well-formed XML");
    pugi::xml_node q = doc.child("IncomesRegisterQuery");
    std::string type = q.child("QueryType").text().as_string();
    IncomesFakeQuery rec{q.first_element_by_path("IncomeEarner/IncomeEarnerIds/Id").text().as_string(),
                         q.child("Purpose").text().as_string(), q.child("ReceivedTimestampStart").text().as_string(),
                         q.child("ReceivedTimestampEnd").text().as_string()};
    auto start = ParseTime(rec.start), end = ParseTime(rec.end);
    if (!q || type != "EarningsPaymentReportsOfIncomeEarner" || rec.income_earner.empty() || !start || !end) {
      return Plain(400, "query: unknown QueryType, or missing IncomeEarner id or receipt window");
    }
    std::optional<IncomesFakeFault> fault;
    std::vector<StoredReport> hits;
    {
      std::lock_guard lock(mu_);
      queries_.push_back(rec);
      if (!options_.permitted_purposes.count(rec.purpose)) {
        return Plain(403, "the data permit does not cover this purpose of use");
      }
      if (!faults_.empty()) {
        fault = faults_.front();
        if (--faults_.front().count <= 0) faults_.pop_front();
      }
      bool duplicate = fault && fault->kind == "duplicate";
      for (const auto& r : reports_) {
        if (r.earner == rec.income_earner && (duplicate || r.received >= *start) && r.received < *end) hits.push_back(r);
      }
    }
    if (fault) {
      if (fault->kind == "status") {
        Response r = Plain(fault->status, "injected fault");
        if (fault->retry_after_s > 0) r.headers["Retry-After"] = std::to_string(fault->retry_after_s);
        return r;
      }
      if (fault->kind == "slow") SleepMs(fault->delay_ms);
      if (fault->kind == "malformed") {
        Response r;
        r.body = "<?xml version=\"1.0\"?><IncomesRegisterQueryResponse><DeliveryData><Reports><Report>";
        return r;
      }
    }
    Response r;
    std::ostringstream os;
    os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?><IncomesRegisterQueryResponse>";
    for (const auto& h : hits) {
      // The delivery context with this report as its only one.
      std::string context = h.delivery_context;
      size_t close = context.rfind("</DeliveryData>");
      std::string reports = "<Reports>" + h.report + "</Reports>";
      if (close == std::string::npos) {  // <DeliveryData/> with no children
        os << "<DeliveryData>" << reports << "</DeliveryData>";
      } else {
        os << context.substr(0, close) << reports << "</DeliveryData>";
      }
    }
    os << "</IncomesRegisterQueryResponse>";
    r.body = os.str();
    if (fault && fault->kind == "drop") r.transport = Response::Transport::kDrop;
    if (fault && fault->kind == "truncate") r.transport = Response::Transport::kTruncate;
    return r;
  }

  const IncomesFakeOptions options_;
  std::string auth_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;

  struct Connection {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::mutex conn_mu_;
  std::vector<Connection> threads_;  // protected by conn_mu_
  std::set<int> open_fds_;            // protected by conn_mu_

  mutable std::mutex mu_;
  std::vector<StoredReport> reports_;      // protected by mu_
  std::vector<IncomesFakeQuery> queries_;  // protected by mu_
  std::deque<IncomesFakeFault> faults_;    // protected by mu_
};

IncomesFake::IncomesFake(IncomesFakeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
IncomesFake::~IncomesFake() = default;
Status IncomesFake::Start() { return impl_->Start(); }
uint16_t IncomesFake::port() const { return impl_->port(); }
std::string IncomesFake::base_url() const { return "http://127.0.0.1:" + std::to_string(impl_->port()); }
void IncomesFake::Stop() { impl_->Stop(); }
Status IncomesFake::AddReports(const std::string& xml) { return impl_->AddReports(xml); }
std::vector<IncomesFakeQuery> IncomesFake::queries() const { return impl_->queries(); }
void IncomesFake::InjectFault(IncomesFakeFault fault) { impl_->InjectFault(fault); }
void IncomesFake::Reset() { impl_->Reset(); }

}  // namespace ennakko
