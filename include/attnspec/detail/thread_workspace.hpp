// attnspec: workspace kept per thread from one call to the next, so that an object constructed per head reuses the
// memory the previous head's object worked in. On virtual machines the first touch of a fresh page costs about 10 µs
// (measured on the project's test machine), so a field constructed afresh for each head spent several times its
// arithmetic in page faults while the same field recomputed in place did not.
#pragma once

#include <memory>

namespace attnspec::detail {

/// A T for the duration of one call: this thread's kept one, or, when that is already in use further up the call
/// stack, a fresh one of its own.
template <class T>
class ThreadWorkspace {
 public:
  ThreadWorkspace() : m_slot(slot()) {
    if (m_slot.busy) {
      m_owned = std::make_unique<T>();
      m_work = m_owned.get();
    } else {
      m_slot.busy = true;
      m_work = &m_slot.work;
    }
  }
  ~ThreadWorkspace() {
    if (!m_owned) m_slot.busy = false;
  }
  ThreadWorkspace(const ThreadWorkspace&) = delete;
  ThreadWorkspace& operator=(const ThreadWorkspace&) = delete;

  T& operator*() const { return *m_work; }
  T* operator->() const { return m_work; }

 private:
  struct Slot {
    T work;
    bool busy = false;
  };
  static Slot& slot() {
    thread_local Slot kept;
    return kept;
  }

  Slot& m_slot;
  std::unique_ptr<T> m_owned;
  T* m_work = nullptr;
};

}  // namespace attnspec::detail
