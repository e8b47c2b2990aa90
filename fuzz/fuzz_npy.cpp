// libFuzzer target: arbitrary bytes as a .npy file, parsed and converted to a matrix when it has <= 2 dimensions.
#include <attnspec/io/npy.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  attnspec_fuzz::expect_success_or_attnspec_error([&] {
    const attnspec::io::NpyArray array = attnspec::io::parse_npy(std::vector<unsigned char>(data, data + size), "fuzz");
    if (array.shape().size() <= 2) {
      const Eigen::MatrixXd matrix = array.matrix<double>();
      Eigen::Index count = 1;
      for (const Eigen::Index extent : array.shape()) count *= extent;
      if (matrix.size() != count) attnspec_fuzz::finding("the matrix size disagrees with the declared shape");
    } else {
      (void)array.view();
    }
  });
  return 0;
}
