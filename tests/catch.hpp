// Catch2 v3 where installed, else Debian's v2 single header; `Approx` is in the global namespace either way.
#pragma once
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
using Catch::Approx;
#else
#include <catch2/catch.hpp>
#endif
