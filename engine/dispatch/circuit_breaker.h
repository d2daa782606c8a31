// A circuit breaker for one delivery channel: stop calling a gateway that keeps failing.
//
//   closed ──(failure_threshold consecutive transient failures)──► open
//   open ──(cool_down passed; the next Admit)──► half_open: one probe send is let through
//   half_open ──probe sent or failed permanently──► closed
//   half_open ──probe failed transiently──► open (a new cool-down)
//
// A permanent failure says the gateway answered (the message, not the gateway, is at fault) and
// counts as a success. While open, the channel's offers wait until RetryAt() instead of using up
// attempts. Each state change is logged and passed to the optional observer (for metrics).
// Thread-safe: one mutex; Admit/Record are called from the claim thread and the worker threads.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "engine/base/date.h"

namespace ennakko {

struct CircuitBreakerOptions {
  int failure_threshold = 5;  // consecutive transient failures that open the circuit; <= 0: never
  std::chrono::milliseconds cool_down{30000};  // how long it stays open before a probe
};

class CircuitBreaker {
 public:
  enum class State { kClosed = 0, kOpen = 1, kHalfOpen = 2 };
  static std::string_view StateName(State s);
  using Observer = std::function<void(std::string_view channel, State state)>;

  CircuitBreaker(std::string channel, CircuitBreakerOptions options, const Clock& clock,
                 Observer on_change = nullptr);

  // May a send on this channel start now? Closed: yes. Open: no until the cool-down has passed;
  // then the state becomes half-open and this one caller is the probe (yes). Half-open with a
  // probe out: no.
  bool Admit();
  // True while the circuit is open and its cool-down is not over: a send admitted earlier in a
  // batch (before the circuit opened) should not start.
  bool Blocks();
  void RecordSuccess();           // sent, or a permanent failure
  void RecordTransientFailure();  // a 5xx, a timeout, a refused connection...
  State state();
  // When a refused send should be tried again: the end of the cool-down (open), or a short while
  // after now (half-open: when the probe should have returned).
  std::chrono::system_clock::time_point RetryAt();

 private:
  void SetState(State s);  // REQUIRES: mu_ held

  // Constant after construction.
  const std::string channel_;
  const CircuitBreakerOptions options_;
  const Clock& clock_;
  const Observer on_change_;

  std::mutex mu_;
  // Protected by mu_:
  State state_ = State::kClosed;
  int consecutive_failures_ = 0;
  std::chrono::system_clock::time_point open_until_{};
  bool probe_out_ = false;
};

}  // namespace ennakko
