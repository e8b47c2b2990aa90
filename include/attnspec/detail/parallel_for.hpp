// attnspec: run body(i) for i in [0, count) on up to `threads` threads (0: every hardware thread; the meaning
// of `threads` in every options struct) — OpenMP when the consumer compiles with
// it, std::thread otherwise. Each index runs on exactly one thread, so results stored per index do not depend on
// the thread count. The first exception (lowest index) is rethrown after all threads stop; `stop` lets the
// caller end the loop early (indices not yet started are skipped).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace attnspec::detail {

template <class Body>
void parallel_for(std::size_t count, unsigned threads, std::atomic<bool>& stop, Body&& body) {
  std::mutex failure_mutex;
  std::exception_ptr failure;
  std::size_t failed_index = count;
  auto run_one = [&](std::size_t i) {
    if (stop.load()) return;
    try {
      body(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(failure_mutex);
      if (i < failed_index) {
        failed_index = i;
        failure = std::current_exception();
      }
      stop.store(true);
    }
  };
  const unsigned wanted = threads != 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  const unsigned workers = static_cast<unsigned>(std::max<std::size_t>(1, std::min<std::size_t>(wanted, count)));
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 1) num_threads(workers)
  for (long long i = 0; i < static_cast<long long>(count); ++i) run_one(static_cast<std::size_t>(i));
#else
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < count; i = next++) run_one(i);
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < workers; ++t) pool.emplace_back(worker);
  worker();
  for (auto& thread : pool) thread.join();
#endif
  if (failure) std::rethrow_exception(failure);
}

}  // namespace attnspec::detail
