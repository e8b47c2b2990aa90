// libFuzzer target: arbitrary bytes as a safetensors file. The header is validated, then every tensor it
// declares is viewed and converted the way SafetensorsFile::view and the adapters do.
#include <attnspec/io/safetensors.hpp>

#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  attnspec_fuzz::expect_success_or_attnspec_error([&] {
    const attnspec::io::SafetensorsHeader header = attnspec::io::parse_safetensors_header(data, size, "fuzz");
    for (const auto& entry : header.entries) {
      const std::uint64_t element_size = attnspec::io::detail::safetensors_dtype_size(entry.dtype);
      if (entry.begin + header.data_start > size || entry.end + header.data_start > size) {
        attnspec_fuzz::finding("a validated entry points outside the file");
      }
      const std::optional<attnspec::ElementType> type = attnspec::io::safetensors_element_type(entry.dtype);
      if (!type) continue;
      const attnspec::TensorView view(data + header.data_start + entry.begin, *type, entry.shape, {}, entry.name);
      if (entry.shape.size() <= 2) {
        const Eigen::MatrixXd matrix = view.matrix<double>();
        if (static_cast<std::uint64_t>(matrix.size()) * element_size != entry.end - entry.begin) {
          attnspec_fuzz::finding("a tensor's element count disagrees with its byte span");
        }
      }
    }
  });
  return 0;
}
