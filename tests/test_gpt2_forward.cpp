// The C++ GPT-2 forward pass of the end-to-end example against PyTorch on the same weights and bytes
// (tests/fixtures/gpt2_forward, written by scripts/make_forward_fixture.py), so the demo's Q/K are the model's.
#include <attnspec/io/activation_dump.hpp>

#include "gpt2/gpt2_forward.hpp"
#include "test_support.hpp"

using namespace attnspec;
using namespace attnspec_test;

namespace {
// Largest |a − b| relative to the largest |b|.
double relative_difference(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  REQUIRE(a.rows() == b.rows());
  REQUIRE(a.cols() == b.cols());
  return (a - b).cwiseAbs().maxCoeff() / b.cwiseAbs().maxCoeff();
}
}  // namespace

TEST_CASE("the C++ GPT-2 forward pass gives PyTorch's queries, keys and logits", "[gpt2][forward]") {
  const std::string source = ATTNSPEC_SOURCE_DIR;
  const io::ModelWeights weights(source + "/models/tiny-gpt2-books");
  const gpt2::Model model(weights);
  const io::ActivationDump fixture(source + "/tests/fixtures/gpt2_forward");
  const io::NpyArray token_array = io::read_npy(source + "/tests/fixtures/gpt2_forward/tokens.npy");
  const Eigen::VectorXd token_values = token_array.matrix<double>();
  std::vector<int> tokens;
  for (Eigen::Index i = 0; i < token_values.size(); ++i) tokens.push_back(static_cast<int>(token_values(i)));

  const gpt2::ForwardResult result = model.forward(tokens);
  const auto& config = model.config();
  REQUIRE(result.queries.size() == static_cast<std::size_t>(config.layers));
  for (Eigen::Index layer = 0; layer < config.layers; ++layer) {
    const auto l = static_cast<std::size_t>(layer);
    const auto queries =
        fixture.activations(io::ActivationDump::query_name(layer), config.query_heads, config.head_dim);
    const auto keys = fixture.activations(io::ActivationDump::key_name(layer), config.kv_heads, config.head_dim);
    INFO("layer " << layer);
    CHECK(relative_difference(result.queries[l].cast<double>(), queries.tensor().matrix<double>()) < 2e-5);
    CHECK(relative_difference(result.keys[l].cast<double>(), keys.tensor().matrix<double>()) < 2e-5);
  }
  const Eigen::MatrixXd logits = io::read_npy(source + "/tests/fixtures/gpt2_forward/logits.npy").matrix<double>();
  CHECK(relative_difference(result.logits.cast<double>(), logits) < 1e-4);

  // A corrupted layer would not pass: the same comparison against the next layer's queries fails.
  const auto other = fixture.activations(io::ActivationDump::query_name(1), config.query_heads, config.head_dim);
  CHECK(relative_difference(result.queries[0].cast<double>(), other.tensor().matrix<double>()) > 0.1);

  require_invalid_argument([&] { (void)model.forward({}); }, {"forward", "0 tokens"});
  require_invalid_argument([&] { (void)model.forward(std::vector<int>(1025, 65)); }, {"1025 tokens", "1 to 1024"});
  require_invalid_argument([&] { (void)model.forward({65, 300}); }, {"token 300 at position 1"});
}
