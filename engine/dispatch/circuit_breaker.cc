#include "engine/dispatch/circuit_breaker.h"

#include <spdlog/spdlog.h>

namespace ennakko {

std::string_view CircuitBreaker::StateName(State s) {
  switch (s) {
    case State::kClosed: return "closed";
    case State::kOpen: return "open";
    case State::kHalfOpen: return "half_open";
  }
  return "?";
}

CircuitBreaker::CircuitBreaker(std::string channel, CircuitBreakerOptions options, const Clock& clock,
                               Observer on_change)
    : channel_(std::move(channel)), options_(options), clock_(clock), on_change_(std::move(on_change)) {}

void CircuitBreaker::SetState(State s) {
  if (s == state_) return;
  State before = state_;
  state_ = s;
  if (s == State::kOpen) {
    spdlog::warn("channel {}: circuit {} → open after {} consecutive transient failures; sends wait {} ms",
                 channel_, StateName(before), consecutive_failures_, options_.cool_down.count());
  } else {
    spdlog::info("channel {}: circuit {} → {}", channel_, StateName(before), StateName(s));
  }
  if (on_change_) on_change_(channel_, s);
}

bool CircuitBreaker::Admit() {
  std::lock_guard lock(mu_);
  switch (state_) {
    case State::kClosed:
      return true;
    case State::kOpen:
      if (clock_.Now() < open_until_) return false;
      SetState(State::kHalfOpen);
      probe_out_ = true;
      return true;
    case State::kHalfOpen:
      if (probe_out_) return false;
      probe_out_ = true;
      return true;
  }
  return false;
}

bool CircuitBreaker::Blocks() {
  std::lock_guard lock(mu_);
  return state_ == State::kOpen && clock_.Now() < open_until_;
}

void CircuitBreaker::RecordSuccess() {
  std::lock_guard lock(mu_);
  consecutive_failures_ = 0;
  probe_out_ = false;
  SetState(State::kClosed);
}

void CircuitBreaker::RecordTransientFailure() {
  std::lock_guard lock(mu_);
  ++consecutive_failures_;
  const bool trip = state_ == State::kHalfOpen ||
                    (options_.failure_threshold > 0 && consecutive_failures_ >= options_.failure_threshold);
  if (!trip) return;
  probe_out_ = false;
  open_until_ = clock_.Now() + options_.cool_down;
  SetState(State::kOpen);
}

CircuitBreaker::State CircuitBreaker::state() {
  std::lock_guard lock(mu_);
  return state_;
}

std::chrono::system_clock::time_point CircuitBreaker::RetryAt() {
  std::lock_guard lock(mu_);
  auto now = clock_.Now();
  if (state_ == State::kOpen && open_until_ > now) return open_until_;
  // Half-open with the probe out (or open with the cool-down just over): look again shortly.
  return now + std::min<std::chrono::milliseconds>(options_.cool_down, std::chrono::milliseconds(5000));
}

}  // namespace ennakko
