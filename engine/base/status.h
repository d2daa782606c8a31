// Status and Result<T>: errors as values across module boundaries.
//
// A Status is either OK or carries a code and a human-readable message. Result<T> holds either a T
// or a non-OK Status. Neither throws. Both are cheap to move and safe to copy; they carry no
// personal data by convention (messages name pseudonymous ids, files, lines, never identity codes).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace ennakko {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad input: a config, a rule, a record
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kUnavailable,  // a transient failure: retry may succeed
  kPermanent,    // a permanent failure at a remote party: do not retry
  kInternal,
  kCancelled,
  kResourceExhausted,  // the remote party asked us to slow down (HTTP 429): retry later
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status Invalid(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Permanent(std::string m) { return {StatusCode::kPermanent, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {StatusCode::kFailedPrecondition, std::move(m)};
  }
  static Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
  static Status ResourceExhausted(std::string m) {
    return {StatusCode::kResourceExhausted, std::move(m)};
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: message", or "OK".
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: REQUIRES: !status.ok()

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  // REQUIRES: ok()
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

#define ENNAKKO_RETURN_IF_ERROR(expr)        \
  do {                                       \
    ::ennakko::Status _st = (expr);          \
    if (!_st.ok()) return _st;               \
  } while (0)

}  // namespace ennakko
