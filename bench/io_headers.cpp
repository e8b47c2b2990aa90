// How parsing a safetensors header scales with its number of tensors (JSON keys): 10^4 to 10^6 keys, up to the
// 100 MiB header limit. Linear or n log n throughput (items per second roughly constant) is the promise; a
// quadratic step (as a duplicate-key scan over every earlier key would be) shows as throughput falling tenfold
// per decade.
#include <benchmark/benchmark.h>

#include <attnspec/io/safetensors.hpp>
#include <map>
#include <string>

namespace {

// A valid safetensors image whose header lists `tensors` empty F32 tensors.
const std::string& header_image(std::int64_t tensors) {
  static std::map<std::int64_t, std::string> images;
  std::string& image = images[tensors];
  if (image.empty()) {
    std::string header = "{";
    for (std::int64_t i = 0; i < tensors; ++i) {
      header += (i ? ",\"model.layers." : "\"model.layers.") + std::to_string(i) +
                ".weight\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}";
    }
    header += "}";
    image.resize(8);
    for (int b = 0; b < 8; ++b)
      image[static_cast<std::size_t>(b)] = static_cast<char>((header.size() >> (8 * b)) & 0xFF);
    image += header;
  }
  return image;
}

void BM_SafetensorsHeader(benchmark::State& state) {
  const std::string& image = header_image(state.range(0));
  for (auto _ : state) {
    const auto header = attnspec::io::parse_safetensors_header(reinterpret_cast<const unsigned char*>(image.data()),
                                                               image.size(), "bench.safetensors");
    benchmark::DoNotOptimize(header.entries.size());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(image.size()));
  state.counters["header_MiB"] = static_cast<double>(image.size()) / (1 << 20);
}

}  // namespace

BENCHMARK(BM_SafetensorsHeader)->Arg(10000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);
