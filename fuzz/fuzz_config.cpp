// libFuzzer target: arbitrary bytes as a model's config.json, through the JSON parser and the reading of the
// fields the analysis needs. What is accepted must describe a model the head slicing can work with.
#include <attnspec/io/model_adapters.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  attnspec_fuzz::expect_success_or_attnspec_error([&] {
    const attnspec::io::ModelConfig config =
        attnspec::io::parse_model_config(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    if (config.layers <= 0 || config.query_heads <= 0 || config.kv_heads <= 0 || config.head_dim <= 0 ||
        config.model_dim <= 0 || config.context <= 0) {
      attnspec_fuzz::finding("a size in an accepted config is not positive");
    }
    if (config.query_heads % config.kv_heads != 0) attnspec_fuzz::finding("query heads do not split into KV groups");
  });
  return 0;
}
