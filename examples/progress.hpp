// Progress of a long run on stderr, for the command-line examples: on a terminal one line redrawn with the count,
// the elapsed time and an estimate of the time left; otherwise (a log file, a batch job) a line at every 5% so
// the log shows the run is alive without filling up.
#pragma once

#include <unistd.h>
#include <chrono>
#include <cstddef>
#include <cstdio>

class Progress {
 public:
  explicit Progress(std::size_t total, const char* unit = "heads")
      : m_total(total), m_unit(unit), m_terminal(isatty(STDERR_FILENO) != 0), m_start(Clock::now()) {}

  /// Records that `done` of the total are finished.
  void update(std::size_t done) {
    if (m_total == 0) return;
    const double elapsed = std::chrono::duration<double>(Clock::now() - m_start).count();
    const double left = done > 0 ? elapsed * double(m_total - done) / double(done) : 0.0;
    const std::size_t percent = 100 * done / m_total;
    if (m_terminal) {
      std::fprintf(stderr, "\r%zu/%zu %s, %.0f s elapsed, about %.0f s left   ", done, m_total, m_unit, elapsed, left);
      if (done == m_total) std::fprintf(stderr, "\n");
    } else if (percent >= m_next_percent || done == m_total) {
      std::fprintf(stderr, "%zu/%zu %s (%zu%%), %.0f s elapsed, about %.0f s left\n", done, m_total, m_unit, percent,
                   elapsed, left);
      m_next_percent = percent - percent % 5 + 5;
    }
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::size_t m_total;
  const char* m_unit;
  bool m_terminal;
  Clock::time_point m_start;
  std::size_t m_next_percent = 5;
};
