#include "connectors/http/http_client.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace ennakko {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxResponseBodyBytes = 8u << 20;

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The parts of a URL we need, plus a loggable "host:port/path" without the query.
struct Target {
  std::string host;
  std::string port;
  std::string host_header;
  std::string request_target;  // path?query, as sent on the request line
  std::string loggable;        // host:port/path: no query, no credentials
};

Result<Target> ParseTarget(const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return Status::Invalid("unparsable URL");
  const boost::urls::url_view& u = *parsed;
  if (Lower(u.scheme()) != "http") {
    return Status::Invalid("only http:// URLs are supported (TLS is not implemented yet)");
  }
  if (u.has_userinfo()) return Status::Invalid("credentials in the URL are not supported");
  Target t;
  t.host = u.host_address();
  if (t.host.empty()) return Status::Invalid("URL has no host");
  t.port = u.has_port() ? std::string(u.port()) : "80";
  t.host_header = std::string(u.encoded_host_and_port());
  t.request_target = std::string(u.encoded_target());
  if (t.request_target.empty() || t.request_target[0] != '/') {
    t.request_target.insert(0, "/");
  }
  t.loggable = t.host + ":" + t.port + std::string(u.encoded_path());
  return t;
}

// Runs `ioc` until the pending operation's handler has set `done`, or until the deadline passes.
// On a deadline, `cancel` aborts the operation and the handler is drained so that nothing
// outlives this call. tcp_stream operations carry their own expiry; this guards the resolver.
template <typename Cancel>
bool RunUntil(asio::io_context& ioc, const bool& done, Clock::time_point deadline,
              Cancel cancel) {
  ioc.restart();
  ioc.run_until(deadline);  // returns early once the handler has run and no work is left
  if (done) return true;
  cancel();
  ioc.restart();
  ioc.run();
  return false;
}

Status IoError(const char* step, const Target& t, const beast::error_code& ec) {
  if (ec == beast::error::timeout) {
    return Status::Unavailable(std::string(step) + " " + t.loggable + ": timed out");
  }
  return Status::Unavailable(std::string(step) + " " + t.loggable + ": " + ec.message());
}

Result<HttpClientResult> Call(const std::string& method, const std::string& url,
                              const std::string& body,
                              const std::map<std::string, std::string>& headers,
                              std::chrono::milliseconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  auto target = ParseTarget(url);
  if (!target.ok()) return target.status();
  const Target& t = *target;

  http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) return Status::Invalid("unknown HTTP method");

  asio::io_context ioc;
  beast::error_code ec;

  // Resolve (numeric hosts resolve without a lookup).
  tcp::resolver resolver(ioc);
  tcp::resolver::results_type endpoints;
  bool resolved = false;
  resolver.async_resolve(t.host, t.port,
                         [&](const beast::error_code& e, tcp::resolver::results_type r) {
                           ec = e;
                           endpoints = std::move(r);
                           resolved = true;
                         });
  if (!RunUntil(ioc, resolved, deadline, [&] { resolver.cancel(); })) {
    return Status::Unavailable("resolve " + t.loggable + ": timed out");
  }
  if (ec) return IoError("resolve", t, ec);

  beast::tcp_stream stream(ioc);
  auto run_step = [&](const char* step, auto start) -> Status {
    bool done = false;
    stream.expires_at(deadline);
    start(done);
    ioc.restart();
    ioc.run();  // the stream's expiry bounds the operation
    if (!done) return Status::Internal(std::string(step) + ": operation did not complete");
    if (ec) return IoError(step, t, ec);
    return Status::Ok();
  };

  ENNAKKO_RETURN_IF_ERROR(run_step("connect", [&](bool& done) {
    stream.async_connect(endpoints, [&](const beast::error_code& e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
  }));

  http::request<http::string_body> req{verb, t.request_target, 11};
  req.set(http::field::host, t.host_header);
  req.set(http::field::user_agent, "ennakko/" ENNAKKO_VERSION);
  req.keep_alive(false);
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  if (!body.empty() || verb == http::verb::post || verb == http::verb::put) req.prepare_payload();

  ENNAKKO_RETURN_IF_ERROR(run_step("write", [&](bool& done) {
    http::async_write(stream, req, [&](const beast::error_code& e, size_t) {
      ec = e;
      done = true;
    });
  }));

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBodyBytes);
  ENNAKKO_RETURN_IF_ERROR(run_step("read", [&](bool& done) {
    http::async_read(stream, buffer, parser, [&](const beast::error_code& e, size_t) {
      ec = e;
      done = true;
    });
  }));

  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);

  const auto& res = parser.get();
  HttpClientResult out;
  out.status = static_cast<int>(res.result_int());
  out.body = res.body();
  for (const auto& field : res) {
    std::string name = Lower(field.name_string());
    auto [it, inserted] = out.headers.emplace(name, std::string(field.value()));
    if (!inserted) {
      it->second += ", ";
      it->second += field.value();
    }
  }
  return out;
}

}  // namespace

Result<HttpClientResult> HttpCall(const std::string& method, const std::string& url,
                                  const std::string& body,
                                  const std::map<std::string, std::string>& headers,
                                  std::chrono::milliseconds timeout) {
  // Boost throws on allocation failure and on a few invariant violations; nothing may escape.
  try {
    return Call(method, url, body, headers, timeout);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("http client: ") + e.what());
  } catch (...) {
    return Status::Internal("http client: unknown exception");
  }
}

}  // namespace ennakko
