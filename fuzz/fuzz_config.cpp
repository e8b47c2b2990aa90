// libFuzzer target: arbitrary bytes as a model's config.json, through the JSON parser and the reading of the
// fields the analysis and the forward passes need. What is accepted must describe a model the head slicing can
// work with and rotary frequencies a forward pass can use.
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
    if (config.rotary) {  // the rotation a forward pass would apply: every frequency finite and in (0, 1]
      const Eigen::VectorXd frequencies = config.rotary->inverse_frequencies(config.head_dim);
      if (!(frequencies.array() > 0).all() || !(frequencies.array() <= 1).all()) {
        attnspec_fuzz::finding("a rotary frequency is not in (0, 1]");
      }
    }
  });
  return 0;
}
