// Shared by the libFuzzer targets: an input either succeeds or is refused with one of attnspec's own errors;
// anything else (another exception, a crash, a sanitizer report) is a finding.
#pragma once

#include <attnspec/errors.hpp>

#include <cstdio>
#include <cstdlib>
#include <exception>

namespace attnspec_fuzz {

template <class Body>
void expect_success_or_attnspec_error(Body&& body) {
  try {
    body();
  } catch (const attnspec::invalid_argument&) {
  } catch (const attnspec::io_error&) {
  } catch (const std::exception& unexpected) {
    std::fprintf(stderr, "unexpected exception: %s\n", unexpected.what());
    std::abort();
  }
}

[[noreturn]] inline void finding(const char* what) {
  std::fprintf(stderr, "finding: %s\n", what);
  std::abort();
}

}  // namespace attnspec_fuzz
