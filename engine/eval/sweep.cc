#include "engine/eval/sweep.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>

namespace ennakko {

int64_t SweepResult::verdicts(Verdict v) const {
  int64_t n = 0;
  for (const auto& r : by_rule) n += r.by_verdict[static_cast<size_t>(v)];
  return n;
}

namespace {

// Shared between the workers and the calling thread for one sweep.
struct SweepState {
  SweepState(const RuleSet& r, const Population& p, Date d, const SweepOptions& o)
      : rules(r), population(p), at(d), options(o) {}
  const RuleSet& rules;
  const Population& population;
  Date at;
  const SweepOptions& options;
  size_t block = 1;   // residents per block, at least 1
  size_t blocks = 0;
  std::atomic<size_t> next_block{0};
  std::atomic<size_t> residents_done{0};
  std::mutex mu;
  std::condition_variable finished_cv;
  int running = 0;  // guarded by mu
};

// One worker: claims blocks until none are left, counting into its own `counts`.
void RunWorker(SweepState& s, std::vector<RuleSweepCounts>& counts) {
  Evaluator ev(s.rules, s.population, s.at);
  ev.PrepareSweep();  // most residents are then ruled out by their birth date alone
  const size_t n = s.population.size();
  const size_t rule_count = s.rules.rules().size();
  const DecisionCallback* on_decision = s.options.on_decision ? &s.options.on_decision : nullptr;
  for (;;) {
    size_t b = s.next_block.fetch_add(1, std::memory_order_relaxed);
    if (b >= s.blocks) break;
    const auto first = static_cast<PersonIndex>(b * s.block);
    const auto last = static_cast<PersonIndex>(std::min(n, (b + 1) * s.block));
    for (size_t r = 0; r < rule_count; ++r) {
      // Counted in locals (kept in registers), added to the worker's counters once per block.
      RuleSweepCounts block_counts;
      CompactDecision d;
      for (PersonIndex p = first; p < last; ++p) {
        if (!ev.EvaluateCompact(r, p, &d)) continue;
        ++block_counts.subjects;
        ++block_counts.by_verdict[static_cast<size_t>(d.verdict)];
        if (on_decision) (*on_decision)(r, p, d);
      }
      counts[r].subjects += block_counts.subjects;
      for (size_t v = 0; v < block_counts.by_verdict.size(); ++v) counts[r].by_verdict[v] += block_counts.by_verdict[v];
    }
    s.residents_done.fetch_add(last - first, std::memory_order_relaxed);
  }
  std::lock_guard<std::mutex> lock(s.mu);
  if (--s.running == 0) s.finished_cv.notify_all();
}

}  // namespace

SweepResult Sweep(const RuleSet& rules, const Population& population, Date at, const SweepOptions& options) {
  const size_t n = population.size();
  const size_t rule_count = rules.rules().size();
  SweepState state(rules, population, at, options);
  state.block = std::max<size_t>(options.block, 1);
  state.blocks = (n + state.block - 1) / state.block;
  int threads = options.threads >= 1 ? options.threads
                                     : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // No more workers than blocks: an idle thread only costs its start-up.
  threads = static_cast<int>(std::min<size_t>(static_cast<size_t>(threads), std::max<size_t>(state.blocks, 1)));
  state.running = threads;

  // Each worker's counters in their own allocation, so workers never write to a shared line.
  std::vector<std::vector<RuleSweepCounts>> counts(static_cast<size_t>(threads), std::vector<RuleSweepCounts>(rule_count));
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    try {
      workers.emplace_back(RunWorker, std::ref(state), std::ref(counts[static_cast<size_t>(t)]));
    } catch (const std::system_error&) {
      // No more threads to be had: the workers already started take the remaining blocks.
      std::lock_guard<std::mutex> lock(state.mu);
      state.running -= threads - t;
      break;
    }
  }
  if (workers.empty()) {
    state.running = 1;
    RunWorker(state, counts[0]);
  }
  {
    std::unique_lock<std::mutex> lock(state.mu);
    auto interval = std::chrono::milliseconds(std::max(1, options.progress_interval_ms));
    while (state.running > 0) {
      if (options.on_progress) {
        state.finished_cv.wait_for(lock, interval, [&] { return state.running == 0; });
        if (state.running > 0) {
          lock.unlock();
          options.on_progress(state.residents_done.load(std::memory_order_relaxed), n);
          lock.lock();
        }
      } else {
        state.finished_cv.wait(lock, [&] { return state.running == 0; });
      }
    }
  }
  for (auto& w : workers) w.join();
  auto end = std::chrono::steady_clock::now();
  if (options.on_progress) options.on_progress(n, n);

  SweepResult result;
  result.by_rule.assign(rule_count, {});
  for (const auto& per_thread : counts) {
    for (size_t r = 0; r < rule_count; ++r) {
      result.by_rule[r].subjects += per_thread[r].subjects;
      for (size_t v = 0; v < 4; ++v) result.by_rule[r].by_verdict[v] += per_thread[r].by_verdict[v];
    }
  }
  for (const auto& r : result.by_rule) result.subjects += r.subjects;
  result.residents = static_cast<int64_t>(n);
  result.rule_decisions = static_cast<int64_t>(n * rule_count);
  result.threads = std::max<int>(1, static_cast<int>(workers.size()));
  result.seconds = std::chrono::duration<double>(end - start).count();
  return result;
}

SweepResult Sweep(const RuleSet& rules, const Population& population, Date at, int threads,
                  const DecisionCallback* on_decision) {
  SweepOptions options;
  options.threads = threads;
  if (on_decision) options.on_decision = *on_decision;
  return Sweep(rules, population, at, options);
}

}  // namespace ennakko
