// The C++ forward pass of the end-to-end examples (examples/decoder/decoder_forward.hpp) against PyTorch on the
// same weights and tokens, so the Q/K the demo analyses are the model's: GPT-2 (tests/fixtures/gpt2_forward,
// written by scripts/make_forward_fixture.py) and the rotary families (tests/fixtures/rotary_forward, written by
// scripts/make_rotary_fixtures.py from an independent float64 implementation).
#include <attnspec/io/npy.hpp>

#include "decoder/decoder_forward.hpp"
#include "test_support.hpp"

using namespace attnspec;
using namespace attnspec_test;

namespace {
const std::string source = ATTNSPEC_SOURCE_DIR;

// Largest |a − b| relative to the largest |b|.
double relative_difference(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  REQUIRE(a.rows() == b.rows());
  REQUIRE(a.cols() == b.cols());
  return (a - b).cwiseAbs().maxCoeff() / b.cwiseAbs().maxCoeff();
}

Eigen::MatrixXd npy(const std::string& path) { return io::read_npy(path).matrix<double>(); }

// Rows `positions` of a forward-pass tensor.
Eigen::MatrixXd rows(const decoder::Matrix& m, const std::vector<std::int64_t>& positions) {
  Eigen::MatrixXd out(static_cast<Index>(positions.size()), m.cols());
  for (std::size_t i = 0; i < positions.size(); ++i)
    out.row(static_cast<Index>(i)) = m.row(positions[i]).cast<double>();
  return out;
}

// Rotary embeddings the way a wrong implementation would apply them to [seq, heads·d] rows at `positions`:
// adjacent pairs (2i, 2i + 1) instead of (i, i + d/2), or the angle's sign flipped.
Eigen::MatrixXd wrongly_rotated(const Eigen::MatrixXd& x, const std::vector<std::int64_t>& positions,
                                const Eigen::VectorXd& frequencies, Index d, bool interleaved) {
  Eigen::MatrixXd out = x;
  const Index half = d / 2;
  for (Index r = 0; r < x.rows(); ++r) {
    for (Index head = 0; head < x.cols() / d; ++head) {
      for (Index i = 0; i < half; ++i) {
        const double angle = static_cast<double>(positions[static_cast<std::size_t>(r)]) * frequencies(i);
        const Index a = head * d + (interleaved ? 2 * i : i), b = head * d + (interleaved ? 2 * i + 1 : i + half);
        const double sin = interleaved ? std::sin(angle) : -std::sin(angle);
        out(r, a) = x(r, a) * std::cos(angle) - x(r, b) * sin;
        out(r, b) = x(r, b) * std::cos(angle) + x(r, a) * sin;
      }
    }
  }
  return out;
}
}  // namespace

TEST_CASE("the C++ GPT-2 forward pass gives PyTorch's queries, keys and logits", "[forward][gpt2]") {
  const std::string fixture = source + "/tests/fixtures/gpt2_forward/";
  const io::ModelWeights weights(source + "/models/tiny-gpt2-books");
  const decoder::Model model(weights);
  const Eigen::VectorXd token_values = npy(fixture + "tokens.npy");
  std::vector<std::int64_t> tokens;
  for (Index i = 0; i < token_values.size(); ++i) tokens.push_back(static_cast<std::int64_t>(token_values(i)));

  std::vector<decoder::LayerActivations> layers;
  const decoder::Matrix hidden =
      model.forward(tokens, [&](const decoder::LayerActivations& a) { layers.push_back(a); });
  REQUIRE(layers.size() == 4);
  for (const auto& layer : layers) {
    INFO("layer " << layer.layer);
    const std::string prefix = fixture + "layers." + std::to_string(layer.layer) + ".";
    CHECK(relative_difference(layer.queries.cast<double>(), npy(prefix + "query.npy")) < 2e-5);
    CHECK(relative_difference(layer.keys.cast<double>(), npy(prefix + "key.npy")) < 2e-5);
    CHECK(layer.queries_before_rotation.size() == 0);
  }
  CHECK(relative_difference(model.logits(hidden).cast<double>(), npy(fixture + "logits.npy")) < 1e-4);
  // A corrupted layer would not pass: the same comparison against the next layer's queries fails.
  CHECK(relative_difference(layers[0].queries.cast<double>(), npy(fixture + "layers.1.query.npy")) > 0.1);

  require_invalid_argument([&] { (void)model.forward({}); }, {"forward", "0 tokens"});
  require_invalid_argument([&] { (void)model.forward(std::vector<std::int64_t>(1025, 65)); },
                           {"1025 tokens", "1 to 1024"});
  require_invalid_argument([&] { (void)model.forward({65, 300}); }, {"token 300 at position 1", "[0, 256)"});
}

TEST_CASE("the C++ forward pass gives PyTorch's rotary Q/K and logits for Llama, Qwen-2 and Mistral",
          "[forward][rotary]") {
  const std::string fixtures = source + "/tests/fixtures/rotary_forward/";
  for (const std::string name : {"tiny-llama-books", "llama-biased", "qwen2", "mistral"}) {
    INFO(name);
    const std::string fixture = fixtures + name + "/";
    const std::string checkpoint = name == "tiny-llama-books" ? source + "/models/tiny-llama-books" : fixture + "model";
    const io::ModelWeights weights(checkpoint);
    const decoder::Model model(weights);
    const io::ModelConfig& config = model.config();
    const std::vector<std::int64_t> tokens = io::read_token_ids(fixture + "tokens.npy", model.vocab_size());
    const std::vector<std::int64_t> positions = io::read_token_ids(fixture + "positions.npy", 1 << 20);

    std::vector<decoder::LayerActivations> layers;
    const decoder::Matrix hidden =
        model.forward(tokens, [&](const decoder::LayerActivations& a) { layers.push_back(a); });
    REQUIRE(static_cast<Index>(layers.size()) == config.layers);
    for (const auto& layer : layers) {
      INFO("layer " << layer.layer);
      const std::string prefix = fixture + "layers." + std::to_string(layer.layer) + ".";
      const Eigen::MatrixXd queries = npy(prefix + "query.npy"), keys = npy(prefix + "key.npy");
      CHECK(relative_difference(rows(layer.queries, positions), queries) < 2e-5);
      CHECK(relative_difference(rows(layer.keys, positions), keys) < 2e-5);
      const Eigen::MatrixXd before = rows(layer.queries_before_rotation, positions);
      CHECK(relative_difference(before, npy(prefix + "query_before_rotation.npy")) < 2e-5);
      CHECK(relative_difference(rows(layer.keys_before_rotation, positions), npy(prefix + "key_before_rotation.npy")) <
            2e-5);
      // The tolerance separates the right rotation from the usual wrong ones by orders of magnitude.
      const Eigen::VectorXd frequencies = config.rotary->inverse_frequencies(config.head_dim);
      CHECK(relative_difference(wrongly_rotated(before, positions, frequencies, config.head_dim, true), queries) >
            1e-2);
      CHECK(relative_difference(wrongly_rotated(before, positions, frequencies, config.head_dim, false), queries) >
            1e-2);
    }
    CHECK(relative_difference(rows(model.logits(hidden), positions), npy(fixture + "logits.npy")) < 1e-4);
  }
}

TEST_CASE("Llama-3 rotary frequencies: unscaled, divided and interpolated wavelengths", "[forward][rotary]") {
  io::RotaryConfig rotary;
  rotary.theta = 500000;
  const Eigen::VectorXd plain = rotary.inverse_frequencies(64);
  CHECK(plain(0) == 1.0);
  CHECK(std::abs(plain(31) - std::pow(500000.0, -62.0 / 64)) < 1e-18);
  rotary.scaling = "llama3";
  rotary.factor = 32;
  const Eigen::VectorXd scaled = rotary.inverse_frequencies(64);
  const double pi = 3.14159265358979323846;
  for (Index i = 0; i < 32; ++i) {
    const double wavelength = 2 * pi / plain(i);
    INFO("pair " << i << ", wavelength " << wavelength);
    if (wavelength < 8192.0 / 4) CHECK(scaled(i) == plain(i));                    // short: kept
    if (wavelength > 8192.0) CHECK(std::abs(scaled(i) - plain(i) / 32) < 1e-18);  // long: divided by the factor
    if (wavelength >= 2048 && wavelength <= 8192) {                               // between: interpolated
      CHECK(scaled(i) <= plain(i));
      CHECK(scaled(i) >= plain(i) / 32);
    }
  }
}

TEST_CASE("the forward pass refuses configurations it does not implement and shapes that contradict config.json",
          "[forward][errors]") {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / "attnspec-forward-refusals";
  fs::remove_all(root);
  const fs::path original = source + "/tests/fixtures/rotary_forward/mistral/model";
  auto variant = [&](const std::string& name, const std::string& from, const std::string& to) {
    const fs::path directory = root / name;
    fs::create_directories(directory);
    fs::copy(original / "model.safetensors", directory / "model.safetensors");
    std::ifstream in(original / "config.json");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    std::ofstream(directory / "config.json") << text;
    return directory.string();
  };
  auto refused = [&](const std::string& directory, std::initializer_list<std::string> fragments) {
    const io::ModelWeights weights(directory);  // the weights alone can still be analysed
    require_io_error([&] { decoder::Model{weights}; }, fragments);
  };
  refused(variant("yarn", "\"rope_theta\": 10000.0",
                  R"("rope_theta": 10000.0, "rope_scaling": {"rope_type": "yarn", "factor": 4})"),
          {"config.json", "does not implement", "\"yarn\"", "supported: none, \"default\", \"llama3\""});
  refused(variant("experts", "\"rope_theta\": 10000.0", R"("rope_theta": 10000.0, "num_local_experts": 8)"),
          {"mixture-of-experts", "num_local_experts"});
  refused(variant("windows", "\"sliding_window\": 7", R"("sliding_window": [7, 7])"), {"per-layer windows"});
  refused(variant("gelu", "\"hidden_act\": \"silu\"", R"("hidden_act": "gelu")"), {"activation \"gelu\"", "\"silu\""});
  {
    const io::ModelWeights weights(variant("wide_mlp", "\"intermediate_size\": 40", R"("intermediate_size": 41)"));
    const decoder::Model model(weights);  // the MLP is read layer by layer, when the forward pass reaches it
    require_io_error(
        [&] {
          (void)model.forward({1, 2});
        },
        {"model.layers.0.mlp.gate_proj.weight", "[40, 32]", "implies [41, 32]"});
  }
  {
    const io::ModelWeights weights(
        variant("short", "\"max_position_embeddings\": 64", R"("max_position_embeddings": 8)"));
    const decoder::Model model(weights);
    require_invalid_argument([&] { (void)model.forward(std::vector<std::int64_t>(9, 1)); },
                             {"9 tokens", "1 to 8", "context in config.json"});
  }
  require_io_error([&] { io::read_token_ids(original.string() + "/../logits.npy", 30); },
                   {"logits.npy", "dtype '<f4'", "token ids as <i4 or <i8"});
  require_io_error([&] { io::read_token_ids(original.string() + "/../tokens.npy", 5); },
                   {"tokens.npy", "outside the vocabulary [0, 5)"});
  fs::remove_all(root);
}
