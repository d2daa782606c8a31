// A token bucket: the rate limit of one delivery channel.
//
// The bucket holds up to `burst` tokens and gains `per_second` tokens a second; a send takes one.
// Time comes from the injected Clock, so tests drive refills with a FakeClock. A bucket with
// per_second <= 0 is unlimited (TryTake always succeeds).
//
// Invariant: 0 <= tokens <= burst. Thread-safe (one mutex): the dispatcher takes tokens at claim
// time on its own thread and for fallbacks on worker threads.
#pragma once

#include <chrono>
#include <mutex>

#include "engine/base/date.h"

namespace ennakko {

struct RateLimit {
  double per_second = 0;  // sustained sends a second; <= 0: unlimited
  double burst = 1;       // the most sends at once after a quiet spell; at least 1
};

class TokenBucket {
 public:
  TokenBucket(RateLimit limit, const Clock& clock);

  bool unlimited() const { return limit_.per_second <= 0; }
  double per_second() const { return limit_.per_second; }
  // Takes one token when there is one.
  bool TryTake();
  // How long from now until the (n+1)-th token from now is there, if nobody takes any: the time
  // an offer that found the bucket empty should wait when n others wait before it. Zero when
  // unlimited or when a token is there now and n == 0.
  std::chrono::milliseconds WaitFor(int n);
  double tokens();

 private:
  void Refill();  // REQUIRES: mu_ held

  const RateLimit limit_;
  const Clock& clock_;
  std::mutex mu_;
  double tokens_;                                  // protected by mu_
  std::chrono::system_clock::time_point last_;     // protected by mu_: time of the last refill
};

}  // namespace ennakko
