#include "engine/api/http_server.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <spdlog/spdlog.h>

#include "engine/base/crypto.h"

namespace ennakko {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

struct Route {
  HttpServer::Handler handler;
  bool requires_token = false;
};

// A response plus the protocol headers the server itself adds (Allow, WWW-Authenticate).
struct Reply {
  HttpResponse response;
  std::vector<std::pair<http::field, std::string>> headers;
};

Reply Plain(int status, std::string body) {
  Reply r;
  r.response.status = status;
  r.response.body = std::move(body);
  return r;
}

// The token from "Authorization: Bearer <token>", or nullopt. The scheme is case-insensitive.
std::optional<std::string_view> BearerToken(const HttpRequest& req) {
  auto it = req.headers.find("authorization");
  if (it == req.headers.end()) return std::nullopt;
  std::string_view v = it->second;
  constexpr std::string_view kScheme = "bearer ";
  if (v.size() <= kScheme.size() || Lower(v.substr(0, kScheme.size())) != kScheme) {
    return std::nullopt;
  }
  v.remove_prefix(kScheme.size());
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

}  // namespace

class HttpServer::Impl {
 public:
  class Session;

  explicit Impl(HttpServerOptions options) : options_(std::move(options)) {
    if (options_.threads < 1) options_.threads = 1;
  }
  ~Impl() { Stop(std::chrono::seconds(5)); }

  void AddRoute(std::string method, std::string path, Handler handler, bool requires_token);
  Status Start();
  uint16_t port() const { return port_.load(); }
  void Stop(std::chrono::milliseconds deadline);

 private:
  void Accept();
  void StartSession(tcp::socket socket);
  void Unregister(uint64_t id);
  Reply Dispatch(const HttpRequest& req) const;
  void RunLoop();

  HttpServerOptions options_;
  std::map<std::string, std::map<std::string, Route>> routes_;  // path -> method -> route
  std::atomic<bool> started_{false};
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;  // owner thread only
  std::atomic<uint16_t> port_{0};

  std::mutex mu_;
  std::condition_variable drained_;
  std::map<uint64_t, std::weak_ptr<Session>> sessions_;  // protected by mu_
  uint64_t next_session_id_ = 0;                         // protected by mu_

  // Declared after everything that sessions touch: the io_context is destroyed first, and
  // handlers it still owns may destroy sessions, which unregister themselves.
  asio::io_context ioc_;
  std::unique_ptr<tcp::acceptor> acceptor_;         // on its own strand
  std::unique_ptr<asio::steady_timer> accept_retry_;  // same strand as the acceptor
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

// One connection: read a request, answer it, repeat while keep-alive. Everything runs on the
// connection's strand; the shared_ptr held by the pending operation keeps the session alive.
class HttpServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Impl& server, uint64_t id, tcp::socket socket)
      : server_(server), id_(id), stream_(std::move(socket)) {}
  ~Session() { server_.Unregister(id_); }

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
  }
  // The server is stopping: close now if idle between requests; otherwise finish the request.
  void OnServerStop() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->reading_ && self->buffer_.size() == 0 && !self->parser_->got_some()) {
        self->stream_.cancel();
      }
    });
  }
  void ForceClose() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->stream_.close(); });
  }

 private:
  void Read() {
    if (server_.stopping_.load()) return Close();  // Stop() may have run before this first read
    parser_.emplace();
    parser_->body_limit(server_.options_.max_body_bytes);
    stream_.expires_after(server_.options_.io_timeout);
    reading_ = true;
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    reading_ = false;
    if (ec == http::error::body_limit) return Respond(0, Plain(413, "request body too large\n"), false);
    if (ec && ec.category() == beast::http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return Respond(0, Plain(400, "bad request\n"), false);
    }
    if (ec) return Close();  // end of stream, timeout, reset, cancelled by Stop

    auto& req = parser_->get();
    const unsigned version = req.version();
    const bool keep_alive = req.keep_alive();
    auto target = boost::urls::parse_origin_form(req.target());
    if (!target) return Respond(version, Plain(400, "bad request target\n"), false);

    HttpRequest request;
    request.method = std::string(req.method_string());
    request.path = target->path();
    for (auto param : target->params(boost::urls::encoding_opts(/*space_as_plus=*/true))) {
      request.query.emplace(param.key, param.value);
    }
    for (const auto& field : req) {
      auto [it, inserted] =
          request.headers.emplace(Lower(field.name_string()), std::string(field.value()));
      if (!inserted) {
        it->second += ", ";
        it->second += field.value();
      }
    }
    request.body = std::move(req.body());

    Reply reply = server_.Dispatch(request);
    spdlog::debug("http {} {} -> {}", request.method, request.path, reply.response.status);
    if (reply.response.delivery == HttpResponse::Delivery::kDrop) return Close();
    const bool keep = keep_alive && !reply.response.close_connection && !server_.stopping_.load();
    Respond(version, std::move(reply), keep);
  }

  void Respond(unsigned version, Reply reply, bool keep_alive) {
    int status = reply.response.status;
    if (status < 100 || status > 999) status = 500;
    response_.emplace();
    response_->version(version == 10 ? 10 : 11);
    response_->result(static_cast<unsigned>(status));
    response_->set(http::field::server, "ennakko");
    response_->set(http::field::content_type, reply.response.content_type);
    for (auto& [field, value] : reply.headers) response_->set(field, value);
    for (auto& [field, value] : reply.response.headers) response_->set(field, value);
    response_->body() = std::move(reply.response.body);
    response_->keep_alive(keep_alive);
    response_->prepare_payload();
    stream_.expires_after(server_.options_.io_timeout);
    if (reply.response.delivery == HttpResponse::Delivery::kTruncate) {
      std::ostringstream whole;
      whole << *response_;
      raw_ = whole.str();
      raw_.resize(raw_.size() - response_->body().size() / 2 - response_->body().size() % 2);
      asio::async_write(stream_, asio::buffer(raw_),
                        beast::bind_front_handler(&Session::OnWrite, shared_from_this(), false));
      return;
    }
    http::async_write(stream_, *response_,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this(), keep_alive));
  }

  void OnWrite(bool keep_alive, beast::error_code ec, size_t) {
    if (ec || !keep_alive || server_.stopping_.load()) return Close();
    Read();
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  Impl& server_;
  const uint64_t id_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  std::string raw_;  // a deliberately truncated response being written (test doubles)
  bool reading_ = false;  // waiting in async_read (on the strand)
};

void HttpServer::Impl::AddRoute(std::string method, std::string path, Handler handler,
                                bool requires_token) {
  if (started_.load()) {
    spdlog::error("http: route {} {} added after Start(); ignored", method, path);
    return;
  }
  routes_[std::move(path)][std::move(method)] = Route{std::move(handler), requires_token};
}

Status HttpServer::Impl::Start() {
  if (started_.load()) return Status::FailedPrecondition("HTTP server already started");
  boost::system::error_code ec;
  auto address = asio::ip::make_address(options_.address, ec);
  if (ec) return Status::Invalid("unparsable listen address '" + options_.address + "'");
  tcp::endpoint endpoint(address, options_.port);
  const std::string where = options_.address + ":" + std::to_string(options_.port);
  try {
    auto strand = asio::make_strand(ioc_);
    acceptor_ = std::make_unique<tcp::acceptor>(strand);
    accept_retry_ = std::make_unique<asio::steady_timer>(strand);
    acceptor_->open(endpoint.protocol(), ec);
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      acceptor_.reset();
      return Status::Unavailable("listen on " + where + ": " + ec.message());
    }
    port_ = acceptor_->local_endpoint().port();
    work_.emplace(asio::make_work_guard(ioc_));
    Accept();  // no thread runs the strand yet, so this is safe from the owner thread
    started_ = true;
    for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { RunLoop(); });
  } catch (const std::exception& e) {
    Stop(std::chrono::milliseconds(0));
    return Status::Internal(std::string("starting the HTTP server: ") + e.what());
  }
  spdlog::debug("http: listening on {}:{}", options_.address, port_.load());
  return Status::Ok();
}

void HttpServer::Impl::RunLoop() {
  for (;;) {
    try {
      ioc_.run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("http: I/O thread caught an exception: {}", e.what());
    }
  }
}

void HttpServer::Impl::Accept() {
  acceptor_->async_accept(asio::make_strand(ioc_), [this](beast::error_code ec, tcp::socket s) {
    if (stopping_.load() || ec == asio::error::operation_aborted) return;
    if (ec) {
      // Out of descriptors, say: back off instead of spinning.
      spdlog::warn("http: accept failed: {}", ec.message());
      accept_retry_->expires_after(std::chrono::milliseconds(100));
      accept_retry_->async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec && !stopping_.load()) Accept();
      });
      return;
    }
    StartSession(std::move(s));
    Accept();
  });
}

void HttpServer::Impl::StartSession(tcp::socket socket) {
  std::shared_ptr<Session> session;
  {
    std::lock_guard lock(mu_);
    if (stopping_.load()) return;  // the socket closes as it goes out of scope
    const uint64_t id = next_session_id_++;
    session = std::make_shared<Session>(*this, id, std::move(socket));
    sessions_[id] = session;
  }
  session->Start();
}

void HttpServer::Impl::Unregister(uint64_t id) {
  std::lock_guard lock(mu_);
  sessions_.erase(id);
  if (sessions_.empty()) drained_.notify_all();
}

Reply HttpServer::Impl::Dispatch(const HttpRequest& req) const {
  auto path_it = routes_.find(req.path);
  if (path_it == routes_.end()) {
    // The longest "/prefix/*" route the path lies under.
    size_t best = 0;
    for (auto it = routes_.begin(); it != routes_.end(); ++it) {
      const std::string& p = it->first;
      if (p.size() < 2 || p.compare(p.size() - 2, 2, "/*") != 0) continue;
      const size_t n = p.size() - 1;  // keep the slash
      if (n > best && req.path.size() > n && req.path.compare(0, n, p, 0, n) == 0) {
        best = n;
        path_it = it;
      }
    }
    if (best == 0) return Plain(404, "not found\n");
  }
  auto route_it = path_it->second.find(req.method);
  if (route_it == path_it->second.end()) {
    Reply r = Plain(405, "method not allowed\n");
    std::string allow;
    for (const auto& [method, route] : path_it->second) {
      if (!allow.empty()) allow += ", ";
      allow += method;
    }
    r.headers.emplace_back(http::field::allow, allow);
    return r;
  }
  const Route& route = route_it->second;
  if (route.requires_token) {
    if (options_.bearer_token.empty()) return Plain(403, "no API token configured\n");
    auto token = BearerToken(req);
    if (!token || !ConstantTimeEquals(*token, options_.bearer_token)) {
      Reply r = Plain(401, "unauthorized\n");
      r.headers.emplace_back(http::field::www_authenticate, "Bearer realm=\"ennakko\"");
      return r;
    }
  }
  try {
    return Reply{route.handler(req), {}};
  } catch (...) {
    // No details: the exception text may carry personal data.
    spdlog::error("http: handler for {} {} threw an exception", req.method, req.path);
    return Plain(500, "internal error\n");
  }
}

void HttpServer::Impl::Stop(std::chrono::milliseconds deadline) {
  if (!started_.load() || stopped_) return;
  stopped_ = true;
  const auto until = std::chrono::steady_clock::now() + deadline;

  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;  // under mu_: no session registers after the snapshot below
    for (auto& [id, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  if (acceptor_) {
    asio::post(acceptor_->get_executor(), [this] {
      beast::error_code ignored;
      acceptor_->close(ignored);
      accept_retry_->cancel();
    });
  }
  for (auto& s : live) s->OnServerStop();

  auto wait_drained = [&](std::chrono::steady_clock::time_point t) {
    std::unique_lock lock(mu_);
    return drained_.wait_until(lock, t, [&] { return sessions_.empty(); });
  };
  live.clear();  // outside mu_: dropping the last reference runs ~Session, which locks mu_
  bool drained = wait_drained(until);
  if (!drained) {
    spdlog::warn("http: requests still in flight at the stop deadline; closing them");
    {
      std::lock_guard lock(mu_);
      for (auto& [id, weak] : sessions_) {
        if (auto s = weak.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) s->ForceClose();
    live.clear();
    drained = wait_drained(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  }
  work_.reset();
  if (!drained) ioc_.stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  spdlog::info("http: stopped");
}

HttpServer::HttpServer(HttpServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
HttpServer::~HttpServer() = default;

void HttpServer::AddRoute(std::string method, std::string path, Handler handler,
                          bool requires_token) {
  impl_->AddRoute(std::move(method), std::move(path), std::move(handler), requires_token);
}
Status HttpServer::Start() { return impl_->Start(); }
uint16_t HttpServer::port() const { return impl_->port(); }
void HttpServer::Stop(std::chrono::milliseconds deadline) { impl_->Stop(deadline); }

}  // namespace ennakko
