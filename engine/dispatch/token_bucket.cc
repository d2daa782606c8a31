#include "engine/dispatch/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace ennakko {

TokenBucket::TokenBucket(RateLimit limit, const Clock& clock)
    : limit_{limit.per_second, std::max(1.0, limit.burst)}, clock_(clock), tokens_(limit_.burst),
      last_(clock.Now()) {}

void TokenBucket::Refill() {
  auto now = clock_.Now();
  if (now <= last_) return;  // a clock stepping back adds nothing
  double elapsed = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(limit_.burst, tokens_ + elapsed * limit_.per_second);
  last_ = now;
}

bool TokenBucket::TryTake() {
  if (unlimited()) return true;
  std::lock_guard lock(mu_);
  Refill();
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

std::chrono::milliseconds TokenBucket::WaitFor(int n) {
  if (unlimited()) return std::chrono::milliseconds(0);
  std::lock_guard lock(mu_);
  Refill();
  double missing = static_cast<double>(n) + 1.0 - tokens_;
  if (missing <= 0) return std::chrono::milliseconds(0);
  return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(missing / limit_.per_second * 1000.0)));
}

double TokenBucket::tokens() {
  if (unlimited()) return 0;
  std::lock_guard lock(mu_);
  Refill();
  return tokens_;
}

}  // namespace ennakko
