// attnspec: numbers written the same whatever locale the host program set. A GUI toolkit or a host that calls
// setlocale(LC_ALL, "") may make printf write "0,5"; reports must still be JSON, CSV and SVG that any reader parses.
#pragma once

#include <locale.h>
#include <clocale>

namespace attnspec::io::detail {

/// While alive, the calling thread (only it: POSIX uselocale) formats numbers in the "C" locale, whatever the
/// process-wide locale is. Readers do not need it: they parse with std::from_chars, which ignores locales.
class ClassicNumbers {
 public:
  ClassicNumbers() : m_previous(c_locale() != locale_t{} ? ::uselocale(c_locale()) : locale_t{}) {}
  ~ClassicNumbers() {
    if (m_previous != locale_t{}) ::uselocale(m_previous);
  }
  ClassicNumbers(const ClassicNumbers&) = delete;
  ClassicNumbers& operator=(const ClassicNumbers&) = delete;

 private:
  static locale_t c_locale() {
    static const locale_t c = ::newlocale(LC_ALL_MASK, "C", locale_t{});
    return c;
  }
  locale_t m_previous;
};

}  // namespace attnspec::io::detail
