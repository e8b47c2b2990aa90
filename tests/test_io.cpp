// Readers against files written by numpy and by tests/make_io_fixtures.py (ATTNSPEC_FIXTURES names their
// directory), a corpus of malformed files built here, and the npy files attnspec writes for numpy to read back.
#include <sys/stat.h>
#include <attnspec/io/activation_dump.hpp>
#include <attnspec/io/model_adapters.hpp>
#include <attnspec/io/npy.hpp>
#include <attnspec/io/safetensors.hpp>
#include <attnspec/logit_energy_field.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "test_support.hpp"

using namespace attnspec;
using namespace attnspec_test;
namespace fs = std::filesystem;

namespace {

fs::path fixtures() {
  const char* directory = std::getenv("ATTNSPEC_FIXTURES");
  REQUIRE(directory != nullptr);
  return directory;
}

// The spectra numpy computed for the fixtures (expected.json, written by make_io_fixtures.py).
io::JsonValue expected_spectra() {
  std::ifstream file(fixtures() / "expected.json");
  const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  return io::parse_json(text, "expected.json");
}

// The formula make_io_fixtures.py writes: flat index / 3 - 2.
MatrixXd formula(Index rows, Index cols) {
  MatrixXd m(rows, cols);
  for (Index i = 0; i < rows; ++i) {
    for (Index j = 0; j < cols; ++j) m(i, j) = double(i * cols + j) / 3.0 - 2.0;
  }
  return m;
}

std::vector<unsigned char> bytes_of(const std::string& text) { return {text.begin(), text.end()}; }

// A safetensors image: 8-byte little-endian header length, the header, then `data_bytes` bytes of data.
std::string safetensors_image(const std::string& header, std::size_t data_bytes, std::uint64_t claimed_length = 0) {
  std::uint64_t length = claimed_length ? claimed_length : header.size();
  std::string image;
  for (int i = 0; i < 8; ++i) image.push_back(static_cast<char>((length >> (8 * i)) & 0xFF));
  return image + header + std::string(data_bytes, '\0');
}

// A version 1.0 .npy image of little-endian float64 values in C order.
std::string npy_image(const std::vector<Index>& shape, const std::vector<double>& values) {
  std::string dims;
  for (const Index extent : shape) dims += std::to_string(extent) + ", ";
  const std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (" + dims + "), }\n";
  std::string out = "\x93NUMPY";
  out += std::string{'\x01', '\x00', static_cast<char>(header.size() & 0xFF), static_cast<char>(header.size() >> 8)};
  out += header;
  out.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(double));
  return out;
}

std::string write_temp(const std::string& name, const std::string& contents) {
  const fs::path file = fs::temp_directory_path() / ("attnspec-test-" + name);
  std::ofstream(file, std::ios::binary) << contents;
  return file.string();
}

}  // namespace

TEST_CASE("npy files written by numpy read back bit-exact", "[io][npy]") {
  const fs::path npy = fixtures() / "npy";
  const io::NpyArray c_order = io::read_npy((npy / "c_f8.npy").string());
  CHECK(c_order.type() == ElementType::float64);
  CHECK(!c_order.fortran_order());
  REQUIRE(c_order.matrix<double>() == formula(3, 5));

  const io::NpyArray fortran = io::read_npy((npy / "fortran_f4.npy").string());
  CHECK(fortran.fortran_order());
  REQUIRE(fortran.matrix<float>() == formula(4, 3).cast<float>());

  MatrixXd quarters(2, 6);
  for (Index i = 0; i < 12; ++i) quarters(i / 6, i % 6) = double(i) * 0.25 - 1.0;
  REQUIRE(io::read_npy((npy / "half_f2.npy").string()).matrix<double>() == quarters);
  REQUIRE(io::read_npy((npy / "v2_f8.npy").string()).matrix<double>() == formula(2, 2));
  REQUIRE(io::read_npy((npy / "v3_f4.npy").string()).matrix<float>() == formula(3, 2).cast<float>());
  REQUIRE(io::read_npy((npy / "vector_f8.npy").string()).matrix<double>() == formula(7, 1));

  const io::NpyArray cube = io::read_npy((npy / "cube_f4.npy").string());
  REQUIRE(cube.shape() == std::vector<Index>{2, 3, 4});
  const HeadActivations heads(cube.view(), HeadLayout::heads_seq_dim, 2);
  REQUIRE(heads.head<double>(1) == formula(6, 4).bottomRows(3).cast<float>().cast<double>());
}

TEST_CASE("npy files attnspec writes are read back by attnspec (numpy reads them in a separate test)", "[io][npy]") {
  const fs::path out = fixtures() / "written";
  fs::create_directories(out);
  MatrixXd wide = formula(3, 7);
  wide(1, 2) = 1e-300;
  wide(2, 6) = -0.0;
  io::write_npy((out / "written_f8.npy").string(), wide);
  io::write_npy((out / "written_f4.npy").string(), formula(5, 2).cast<float>().eval());
  REQUIRE(io::read_npy((out / "written_f8.npy").string()).matrix<double>() == wide);
  REQUIRE(io::read_npy((out / "written_f4.npy").string()).matrix<float>() == formula(5, 2).cast<float>());
}

TEST_CASE("malformed npy files are rejected with the file and the offset", "[io][npy][errors]") {
  const std::string good_header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }";
  auto image = [](const std::string& header, std::size_t data, int major = 1) {
    std::string out = "\x93NUMPY";
    out.push_back(static_cast<char>(major));
    out.push_back('\0');
    out.push_back(static_cast<char>(header.size() & 0xFF));
    out.push_back(static_cast<char>(header.size() >> 8));
    if (major > 1) out += std::string(2, '\0');
    return out + header + std::string(data, '\0');
  };
  REQUIRE(io::parse_npy(bytes_of(image(good_header, 32)), "ok.npy").matrix<double>() == MatrixXd::Zero(2, 2));
  require_io_error([&] { io::parse_npy(bytes_of("PK\x03\x04 not numpy"), "zip.npy"); }, {"zip.npy", "magic"});
  require_io_error([&] { io::parse_npy(bytes_of(image(good_header, 32, 4)), "v4.npy"); }, {"version 4"});
  require_io_error([&] { io::parse_npy(bytes_of(image(good_header, 31)), "short.npy"); },
                   {"short.npy", "holds 31 bytes", "need 32"});
  require_io_error([&] { io::parse_npy(bytes_of(image(good_header, 40)), "long.npy"); }, {"holds 40 bytes"});
  std::string lying = image(good_header, 32);
  lying[8] = '\xff';
  lying[9] = '\x7f';
  require_io_error([&] { io::parse_npy(bytes_of(lying), "lying.npy"); }, {"header length 32767", "past the end"});
  require_io_error(
      [&] {
        io::parse_npy(bytes_of(image("{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", 16)), "be.npy");
      },
      {"'>f8'", "little-endian"});
  require_io_error(
      [&] {
        io::parse_npy(bytes_of(image("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", 16)), "int.npy");
      },
      {"'<i8'"});
  require_io_error([&] { io::parse_npy(bytes_of(image("{'descr': '<f8', 'shape': (2,), }", 16)), "nokey.npy"); },
                   {"lacks"});
  require_io_error(
      [&] { io::parse_npy(bytes_of(image("{'descr': '<f8', 'fortran_order': Maybe, 'shape': (2,), }", 16)), "b.npy"); },
      {"True or False", "byte 44"});
  require_io_error(
      [&] {
        io::parse_npy(bytes_of(image("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999,), }", 0)),
                      "huge.npy");
      },
      {"absurd extent"});
  require_io_error(
      [&] {
        io::parse_npy(
            bytes_of(image("{'descr': '<f8', 'fortran_order': False, 'shape': (1048576, 1048576, 1048576), }", 0)),
            "overflow.npy");
      },
      {"spans more than 2^48 elements"});
  // A zero extent empties the array but not its strides: the other extents must still be bounded.
  require_io_error(
      [&] {
        io::parse_npy(
            bytes_of(image("{'descr': '<f2', 'fortran_order': False, 'shape': (0, 800000000000, 292164812), }", 0)),
            "empty-overflow.npy");
      },
      {"shape [0, 800000000000, 292164812] spans more than 2^48 elements"});
  require_io_error(
      [&] {
        io::parse_npy(bytes_of(image("{'descr': '<f8', 'fortran_order': False, 'shape': (2, -2), }", 0)), "neg.npy");
      },
      {"non-negative"});
  require_io_error([&] { io::parse_npy(bytes_of(image("{'descr': '<f8", 0)), "cut.npy"); }, {"unterminated"});
  require_io_error([] { io::read_npy("/nonexistent/attnspec.npy"); }, {"/nonexistent/attnspec.npy", "cannot open"});
}

TEST_CASE("safetensors written by the format's rules read back in every float dtype", "[io][safetensors]") {
  const io::SafetensorsFile file((fixtures() / "safetensors" / "mixed.safetensors").string());
  REQUIRE(file.metadata().at("note") == "attnspec test");
  REQUIRE(file.view("f32").matrix<double>() == formula(3, 4).cast<float>().cast<double>());
  REQUIRE(file.view("f64").matrix<double>() == formula(2, 3));
  MatrixXd halves(3, 2), quarters(2, 4);
  for (Index i = 0; i < 6; ++i) halves(i / 2, i % 2) = double(i) * 0.5 - 1.0;
  for (Index i = 0; i < 8; ++i) quarters(i / 4, i % 4) = double(i) * 0.25 - 0.5;
  REQUIRE(file.view("f16").matrix<double>() == halves);
  REQUIRE(file.view("bf16").matrix<double>() == quarters);
  require_io_error([&] { (void)file.view("positions"); }, {"mixed.safetensors", "'positions'", "I64"});
  require_io_error([&] { (void)file.view("absent"); }, {"no tensor named 'absent'"});
}

TEST_CASE("malformed safetensors files are rejected before any tensor is read", "[io][safetensors][errors]") {
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  auto parse = [](const std::string& image, const char* name) {
    return io::parse_safetensors_header(reinterpret_cast<const unsigned char*>(image.data()), image.size(), name);
  };
  REQUIRE(parse(safetensors_image(ok, 16), "ok").entries.size() == 1);
  require_io_error([&] { parse(std::string("\x10\0\0", 3), "tiny"); }, {"tiny", "truncated: 3 bytes"});
  require_io_error([&] { parse(safetensors_image(ok, 16, 1u << 20), "long"); },
                   {"long", "header length 1048576 at byte 0", "past the end"});
  require_io_error([&] { parse(safetensors_image(ok, 16, ~std::uint64_t{0}), "max"); },
                   {"header length 18446744073709551615"});
  require_io_error([&] { parse(safetensors_image(ok, 15), "short"); }, {"'a'", "data_offsets [0, 16)", "15 bytes"});
  require_io_error([&] { parse(safetensors_image(ok, 20), "tail"); }, {"[16, 20)", "belong to no tensor"});
  require_io_error(
      [&] { parse(safetensors_image(R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})", 16), "span"); },
      {"spans 16 bytes", "need 24"});
  require_io_error(
      [&] {
        parse(
            safetensors_image(
                R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                16),
            "overlap");
      },
      {"overlaps"});
  require_io_error(
      [&] { parse(safetensors_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16), "hole"); },
      {"[0, 8)", "belong to no tensor"});
  require_io_error(
      [&] { parse(safetensors_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[16,8]}})", 16), "backwards"); },
      {"data_offsets [16, 8)"});
  require_io_error(
      [&] {
        parse(safetensors_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,18446744073709551624]}})", 8),
              "bigint");
      },
      {"exceeds"});
  require_io_error(
      [&] {
        parse(safetensors_image(
                  R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})", 8),
              "absurd");
      },
      {"spans more than 2^48"});
  require_io_error(
      [&] {
        parse(safetensors_image(R"({"a":{"dtype":"F32","shape":[0,1099511627776,1099511627776],"data_offsets":[0,0]}})",
                                0),
              "empty-absurd");
      },
      {"'a'", "spans more than 2^48"});
  require_io_error(
      [&] { parse(safetensors_image(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), "neg"); },
      {"non-negative integer"});
  require_io_error(
      [&] { parse(safetensors_image(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8), "frac"); },
      {"non-negative integer", "2.5"});
  require_io_error(
      [&] { parse(safetensors_image(R"({"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8), "dtype"); },
      {"unknown dtype 'Q4'"});
  require_io_error([&] { parse(safetensors_image(R"({"a":{"dtype":"F32","shape":[2]}})", 8), "fields"); },
                   {"exactly 'dtype', 'shape' and 'data_offsets'"});
  require_io_error(
      [&] {
        parse(
            safetensors_image(
                R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                8),
            "dup");
      },
      {"duplicate key"});
  require_io_error(
      [&] { parse(safetensors_image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8])", 8), "cut"); },
      {"cut", "invalid JSON at byte"});
  require_io_error([&] { parse(safetensors_image("[1,2]", 0), "array"); }, {"not a JSON object"});
  require_io_error([&] { parse(safetensors_image(std::string(100, '[') + std::string(100, ']'), 0), "deep"); },
                   {"nesting deeper than 64"});
  require_io_error([&] { parse(safetensors_image(R"({"__metadata__":{"k":1}})", 0), "meta"); }, {"__metadata__.k"});
  require_io_error([&] { io::SafetensorsFile(write_temp("empty.safetensors", "")); },
                   {"empty.safetensors", "truncated: 0 bytes"});
  require_io_error([&] { io::SafetensorsFile("/nonexistent/model.safetensors"); }, {"cannot open"});
  require_io_error([&] { io::SafetensorsFile(fs::temp_directory_path().string()); }, {"not a regular file"});
}

TEST_CASE("JSON strings, escapes and numbers parse exactly", "[io][json]") {
  const io::JsonValue value = io::parse_json(
      R"({"s":"a\"b\\c\u00e9\ud83d\ude00","n":-1.5e3,"big":18446744073709551615,"t":true,"z":null,"e":[]})", "j");
  CHECK(value.find("s")->text == "a\"b\\c\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(io::json_number(*value.find("n"), "j", "n") == -1500);
  CHECK(io::json_unsigned(*value.find("big"), "j", "big") == 18446744073709551615u);
  CHECK(value.find("t")->boolean);
  CHECK(value.find("z")->kind == io::JsonValue::Kind::null);
  CHECK(io::parse_json(io::json_quote("tab\t\x01 \"q\""), "q").text == "tab\t\x01 \"q\"");
  CHECK(io::json_double(std::numeric_limits<double>::infinity()) == "null");
  for (const char* bad : {"{", "[1,]", "{\"a\" 1}", "01", "1.", "\"\\x\"", "\"\\ud800\"", "tru", "\"a\nb\"", "{} x"}) {
    require_io_error([&] { io::parse_json(bad, "bad.json"); }, {"bad.json", "invalid JSON at byte"});
  }
}

TEST_CASE("fake checkpoints: every family's per-head M matches independent slicing", "[io][checkpoint]") {
  const io::JsonValue expected = expected_spectra();
  auto reference = [&](const std::string& family, const std::string& key) {
    const io::JsonValue& values = *expected.find(family)->find(key);
    VectorXd sigma(static_cast<Index>(values.items.size()));
    for (Index i = 0; i < sigma.size(); ++i)
      sigma(i) = io::json_number(values.items[static_cast<std::size_t>(i)], "e", key);
    return sigma;
  };
  auto compare = [&](const std::string& family, const std::string& key, const auto& weights) {
    INFO(family << " " << key);
    const InteractionMatrix<double> m(weights.query_weight, weights.key_weight, weights.preparation);
    const VectorXd want = reference(family, key);
    const VectorXd got = m.singular_values();
    REQUIRE(got.size() <= want.size());
    REQUIRE((got - want.head(got.size())).cwiseAbs().maxCoeff() <= 1e-12 * want(0));
    REQUIRE(want.tail(want.size() - got.size()).cwiseAbs().maxCoeff() <= 1e-12 * want(0) + 0.0);
  };
  io::AdapterOptions prepared;
  prepared.fold_norm = prepared.biases = true;
  for (const std::string family : {"gpt2", "llama", "mistral", "qwen2"}) {
    const io::ModelWeights model((fixtures() / family).string());
    const io::ModelConfig& config = model.config();
    CHECK(io::family_name(config.family) == family);
    for (Index layer = 0; layer < config.layers; ++layer) {
      for (Index h = 0; h < config.query_heads; ++h) {
        const std::string where = "/" + std::to_string(layer) + "/" + std::to_string(h);
        compare(family, "M" + where, model.heads<double>(layer, h, 1));
        if (family == "gpt2" || family == "qwen2")
          compare(family, "M_prepared" + where, model.heads<double>(layer, h, 1, prepared));
      }
      if (family != "gpt2") {
        for (Index g = 0; g < config.kv_heads; ++g) {
          compare(family, "M_group/" + std::to_string(layer) + "/" + std::to_string(g),
                  model.heads<double>(layer, g * config.group_size(), config.group_size()));
        }
      }
    }
  }
  const io::ModelWeights llama((fixtures() / "llama").string());
  CHECK(llama.config().kv_heads == 2);
  CHECK(llama.checkpoint().tensor_names().size() == 2 * 4 + 1);
  const io::ModelWeights qwen((fixtures() / "qwen2").string());
  CHECK(qwen.config().head_dim == 6);
  require_invalid_argument([&] { (void)qwen.heads<double>(0, 2, 2); }, {"ModelWeights::heads", "[2, 4)"});
}

TEST_CASE("activation dumps: npy directories and safetensors give the same fields as numpy", "[io][dump]") {
  const io::JsonValue expected = *expected_spectra().find("gpt2");
  for (const char* dump_name : {"gpt2_dump_npy", "gpt2_dump.safetensors"}) {
    const io::ActivationDump dump((fixtures() / dump_name).string());
    for (Index layer = 0; layer < 2; ++layer) {
      const HeadActivations q = dump.activations(io::ActivationDump::query_name(layer), 4, 8);
      const HeadActivations k = dump.activations(io::ActivationDump::key_name(layer), 4, 8);
      for (Index h = 0; h < 4; ++h) {
        const LogitEnergyField<double> field(q.head<double>(h), k.head<double>(h));
        const io::JsonValue& want = *expected.find("field/" + std::to_string(layer) + "/" + std::to_string(h));
        const double top = io::json_number(want.items[0], "e", "sigma");
        for (Index l = 0; l < field.singular_values().size(); ++l) {
          REQUIRE(std::abs(field.singular_values()(l) -
                           io::json_number(want.items[static_cast<std::size_t>(l)], "e", "s")) <= 1e-12 * top);
        }
      }
    }
    require_io_error([&] { (void)dump.activations(io::ActivationDump::query_name(0), 4, 16); },
                     {dump_name, "4 heads of size 8", "head size is 16"});
    require_io_error([&] { (void)dump.activations(io::ActivationDump::query_name(7), 4, 8); }, {"layers.7.query"});
    if (std::string(dump_name) == "gpt2_dump.safetensors") {
      require_io_error([&] { (void)dump.activations(io::ActivationDump::query_name(0), 3, 8); },
                       {"the model has 3 heads", "neither [heads, seq, d] nor [seq, heads, d]"});
    } else {
      require_io_error([&] { (void)dump.activations(io::ActivationDump::query_name(0), 3, 8); },
                       {"do not split into 3 heads"});
    }
  }
}

TEST_CASE("dump folders: files opened only when asked for, 3-D layouts read from the shape or stated", "[io][dump]") {
  const fs::path root = fs::temp_directory_path() / "attnspec-dump-layouts";
  fs::remove_all(root);
  fs::create_directories(root);
  // Two heads of 5 tokens, d = 3, as [heads, seq, d] and as [seq, heads, d]; and a 2-token dump ([2, 2, 3]),
  // which fits both layouts.
  std::vector<double> heads_first(2 * 5 * 3), seq_first(heads_first.size());
  for (Index h = 0; h < 2; ++h) {
    for (Index t = 0; t < 5; ++t) {
      for (Index j = 0; j < 3; ++j) {
        const double value = std::sin(1.0 + static_cast<double>(h * 15 + t * 3 + j));
        heads_first[static_cast<std::size_t>((h * 5 + t) * 3 + j)] = value;
        seq_first[static_cast<std::size_t>((t * 2 + h) * 3 + j)] = value;
      }
    }
  }
  std::ofstream(root / "layers.0.query.npy", std::ios::binary) << npy_image({2, 5, 3}, heads_first);
  std::ofstream(root / "layers.0.key.npy", std::ios::binary) << npy_image({5, 2, 3}, seq_first);
  std::ofstream(root / "layers.1.query.npy", std::ios::binary) << npy_image({2, 2, 3}, std::vector<double>(12, 1.0));
  std::ofstream(root / "layers.2.query.npy", std::ios::binary) << "not a .npy file";
  std::ofstream(root / "tokens.npy", std::ios::binary) << "token ids, int64: never opened";

  const io::ActivationDump dump(root.string());
  const HeadActivations q = dump.activations("layers.0.query", 2, 3), k = dump.activations("layers.0.key", 2, 3);
  for (Index h = 0; h < 2; ++h) REQUIRE(q.head<double>(h) == k.head<double>(h));  // the same values either way
  require_io_error([&] { (void)dump.activations("layers.1.query", 2, 3); },
                   {"layers.1.query.npy", "[heads, seq, d] or [seq, heads, d] alike", "state the layout"});
  require_io_error([&] { (void)dump.activations("layers.2.query", 2, 3); }, {"layers.2.query.npy", "magic"});

  const io::ActivationDump stated(root.string(), HeadLayout::seq_heads_dim);
  REQUIRE(stated.activations("layers.1.query", 2, 3).seq() == 2);
  REQUIRE(stated.activations("layers.0.key", 2, 3).head<double>(1) == q.head<double>(1));
  require_io_error([&] { (void)stated.activations("layers.0.query", 2, 3); },
                   {"layers.0.query.npy", "does not hold the model's 2 heads in the stated layout [seq, heads, d]"});
  fs::remove_all(root);
}

TEST_CASE("broken checkpoints: missing tensors, contradicting shapes, bad index files", "[io][checkpoint][errors]") {
  const fs::path root = fs::temp_directory_path() / "attnspec-broken-checkpoints";
  fs::remove_all(root);
  auto make = [&](const std::string& name) {
    fs::create_directories(root / name);
    fs::copy(fixtures() / "qwen2", root / name, fs::copy_options::recursive);
    return root / name;
  };
  auto write = [](const fs::path& file, const std::string& text) { std::ofstream(file, std::ios::binary) << text; };

  const fs::path wrong_heads = make("wrong_heads");
  write(
      wrong_heads / "config.json",
      R"({"model_type":"qwen2","hidden_size":24,"num_attention_heads":4,"num_key_value_heads":2,"num_hidden_layers":2,"head_dim":6})");
  require_io_error([&] { io::ModelWeights((wrong_heads).string()); },
                   {"model.layers.0.self_attn.q_proj.weight", "[36, 24]", "config.json", "[24, 24]"});
  const fs::path more_layers = make("more_layers");
  write(
      more_layers / "config.json",
      R"({"model_type":"qwen2","hidden_size":24,"num_attention_heads":6,"num_key_value_heads":2,"num_hidden_layers":3,"head_dim":6})");
  require_io_error([&] { io::ModelWeights((more_layers).string()); },
                   {"no tensor named 'model.layers.2.self_attn.q_proj.weight'"});
  const fs::path bad_groups = make("bad_groups");
  write(
      bad_groups / "config.json",
      R"({"model_type":"llama","hidden_size":24,"num_attention_heads":6,"num_key_value_heads":4,"num_hidden_layers":2})");
  require_io_error([&] { io::ModelWeights((bad_groups).string()); }, {"6 query heads", "4 KV heads"});
  // A fuzz_config finding: heads of size 0 were accepted when hidden_size < num_attention_heads.
  require_io_error(
      [] {
        io::parse_model_config(
            R"({"model_type":"qwen2","hidden_size":2,"num_attention_heads":3,"num_hidden_layers":1})", "tiny.json");
      },
      {"tiny.json", "no \"head_dim\"", "model size 2 over 3 query heads", "size 0"});
  CHECK(io::parse_model_config(
            R"({"model_type":"llama","hidden_size":2,"num_attention_heads":3,"num_hidden_layers":1,"head_dim":4})",
            "explicit.json")
            .head_dim == 4);
  const fs::path unknown = make("unknown");
  write(unknown / "config.json", R"({"model_type":"bert","hidden_size":24})");
  require_io_error([&] { io::ModelWeights((unknown).string()); }, {"model_type \"bert\""});
  const fs::path no_config = make("no_config");
  fs::remove(no_config / "config.json");
  require_io_error([&] { io::ModelWeights((no_config).string()); }, {"config.json", "cannot open"});
  const fs::path truncated = make("truncated");
  fs::resize_file(truncated / "model.safetensors", fs::file_size(truncated / "model.safetensors") - 3);
  require_io_error([&] { io::ModelWeights((truncated).string()); }, {"model.safetensors", "outside the data buffer"});
  require_io_error([&] { io::Checkpoint((root / "absent").string()); }, {"no such file"});
  fs::create_directories(root / "empty");
  require_io_error([&] { io::Checkpoint((root / "empty").string()); }, {"neither model.safetensors.index.json nor"});

  fs::create_directories(root / "index");
  for (const auto& entry : fs::directory_iterator(fixtures() / "llama")) fs::copy(entry.path(), root / "index");
  const fs::path index = root / "index" / "model.safetensors.index.json";
  write(index, R"({"weight_map":{"model.layers.0.input_layernorm.weight":"../../etc/passwd"}})");
  require_io_error([&] { io::Checkpoint(index.string()); }, {"'../../etc/passwd'", "not a plain file name"});
  write(index, R"({"weight_map":{"model.layers.0.input_layernorm.weight":"model-00009-of-00009.safetensors"}})");
  require_io_error([&] { io::Checkpoint(index.string()); }, {"model-00009-of-00009.safetensors", "does not exist"});
  write(index, R"({"weight_map":{"lm_head":"model-00001-of-00003.safetensors"}})");
  require_io_error([&] { io::Checkpoint(index.string()); }, {"'lm_head'", "which does not hold it"});
  write(index, R"({"metadata":{}})");
  require_io_error([&] { io::Checkpoint(index.string()); }, {"no \"weight_map\""});
  fs::remove_all(root);
}

TEST_CASE("config.json per family: rotary scaling, windows, biases, tied heads, null fields, unsupported features",
          "[io][config]") {
  const io::ModelConfig llama = io::parse_model_config(
      R"({"model_type":"llama","hidden_size":2048,"num_attention_heads":32,"num_key_value_heads":8,
          "num_hidden_layers":16,"head_dim":null,"rope_theta":500000.0,"tie_word_embeddings":true,
          "attention_bias":false,"intermediate_size":8192,"vocab_size":128256,"rms_norm_eps":1e-05,
          "rope_scaling":{"factor":32.0,"high_freq_factor":4.0,"low_freq_factor":1.0,
                          "original_max_position_embeddings":8192,"rope_type":"llama3"}})",
      "llama.json");
  CHECK(llama.head_dim == 64);  // null counts as absent: hidden size over heads
  CHECK(llama.rotary->theta == 500000);
  CHECK(llama.rotary->scaling == "llama3");
  CHECK(llama.rotary->factor == 32);
  CHECK(llama.tied_embeddings);
  CHECK(!llama.query_key_value_bias);
  CHECK(llama.mlp_dim == 8192);
  CHECK(llama.vocab_size == 128256);
  CHECK(llama.norm_eps == 1e-5);
  CHECK(llama.context == 2048);  // Transformers' default max_position_embeddings for Llama
  CHECK(llama.unsupported.empty());
  CHECK(&llama.description() == &io::family_description(io::ModelFamily::llama));

  const io::ModelConfig mistral = io::parse_model_config(
      R"({"model_type":"mistral","hidden_size":4096,"num_attention_heads":32,"num_key_value_heads":8,
          "num_hidden_layers":32,"sliding_window":4096})",
      "mistral.json");
  CHECK(mistral.sliding_window == 4096);
  CHECK(!mistral.tied_embeddings);
  CHECK(mistral.rotary->scaling == "default");
  CHECK(io::parse_model_config(R"({"model_type":"mistral","hidden_size":64,"num_attention_heads":4,
                                   "num_hidden_layers":1,"sliding_window":null})",
                               "m.json")
            .sliding_window == 0);

  const io::ModelConfig qwen = io::parse_model_config(
      R"({"model_type":"qwen2","hidden_size":2048,"num_attention_heads":16,"num_key_value_heads":2,
          "num_hidden_layers":36,"use_sliding_window":false,"sliding_window":32768,"rope_scaling":null})",
      "qwen.json");
  CHECK(qwen.query_key_value_bias);
  CHECK(!qwen.attention_output_bias);
  CHECK(qwen.sliding_window == 0);  // Qwen-2 applies its window only with use_sliding_window
  CHECK(qwen.unsupported.empty());

  const io::ModelConfig gpt2 = io::parse_model_config(
      R"({"model_type":"gpt2","n_embd":768,"n_head":12,"n_layer":12,"n_inner":null})", "gpt2.json");
  CHECK(gpt2.mlp_dim == 4 * 768);
  CHECK(gpt2.query_key_value_bias);
  CHECK(gpt2.attention_output_bias);
  CHECK(gpt2.tied_embeddings);
  CHECK(!gpt2.rotary);

  const io::ModelConfig odd = io::parse_model_config(
      R"({"model_type":"qwen2","hidden_size":64,"num_attention_heads":4,"num_hidden_layers":1,
          "use_sliding_window":true,"rope_scaling":{"type":"yarn","factor":4.0},"num_experts":8,"hidden_act":"gelu"})",
      "odd.json");
  CHECK(odd.unsupported.find("use_sliding_window") != std::string::npos);
  CHECK(odd.unsupported.find("\"yarn\"") != std::string::npos);
  CHECK(odd.unsupported.find("mixture-of-experts (\"num_experts\")") != std::string::npos);
  CHECK(odd.unsupported.find("activation \"gelu\"") != std::string::npos);

  auto refused = [](const char* text, std::initializer_list<std::string> fragments) {
    require_io_error([&] { io::parse_model_config(text, "bad.json"); }, fragments);
  };
  refused(R"({"model_type":"llama","hidden_size":64,"num_attention_heads":4,"num_hidden_layers":1,"rope_theta":0.5})",
          {"bad.json", "\"rope_theta\" = 0.5 must exceed 1"});
  refused(R"({"model_type":"llama","hidden_size":64,"num_attention_heads":4,"num_hidden_layers":1,
              "rope_scaling":{"rope_type":"llama3","factor":0.5}})",
          {"factor 0.5 must be >= 1"});
  refused(R"({"model_type":"llama","hidden_size":64,"num_attention_heads":4,"num_hidden_layers":1,
              "rope_scaling":{"rope_type":"llama3","factor":8,"low_freq_factor":4,"high_freq_factor":1}})",
          {"high_freq_factor 1 must exceed low_freq_factor 4"});
  refused(R"({"model_type":"llama","hidden_size":60,"num_attention_heads":4,"num_hidden_layers":1,"head_dim":15})",
          {"head_dim = 15 is odd"});
  refused(R"({"model_type":"llama","hidden_size":64,"num_attention_heads":4,"num_hidden_layers":1,"rope_scaling":3})",
          {"\"rope_scaling\" must be an object or null"});
  refused(R"({"model_type":"llama","hidden_size":64,"num_attention_heads":4,"num_hidden_layers":1,
              "tie_word_embeddings":"yes"})",
          {"\"tie_word_embeddings\"", "must be true or false"});
  refused(R"({"model_type":"mixtral","hidden_size":64})", {"model_type \"mixtral\"", "gpt2, llama, mistral, qwen2"});
}

TEST_CASE("one error hierarchy: attnspec::error catches every kind; io_error carries the file and the byte",
          "[io][errors]") {
  auto caught_as_error = [](auto action, const char* category) {
    try {
      action();
    } catch (const attnspec::error& error) {
      CHECK(std::string(error.category()) == category);
      CHECK(std::string(error.what()) == "[attnspec." + std::string(category) + "] " + error.message());
      return;
    }
    FAIL("no attnspec::error thrown");
  };
  caught_as_error([] { SpectrumStats<double>(VectorXd::Constant(2, -1.0)); }, "invalid_argument");
  caught_as_error([] { io::parse_json("{\"a\": 1,}", "x.json"); }, "io_error");
  caught_as_error([] { throw attnspec::cancelled("analyse_model: cancelled"); }, "cancelled");
  try {
    io::parse_json("{\"a\": tru}", "x.json");
    FAIL("accepted bad JSON");
  } catch (const attnspec::io_error& error) {
    CHECK(error.path() == "x.json");
    REQUIRE(error.offset());
    CHECK(*error.offset() == 6);
    CHECK(std::string(error.what()).find("x.json: invalid JSON at byte 6") != std::string::npos);
  }
  try {
    io::read_model_config("/nonexistent/config.json");
    FAIL("read a missing file");
  } catch (const std::exception& error) {  // still a std::exception, through std::runtime_error
    const auto* io = dynamic_cast<const attnspec::io_error*>(&error);
    REQUIRE(io != nullptr);
    CHECK(io->path() == "/nonexistent/config.json");
    CHECK(!io->offset());
  }
}

TEST_CASE("report sets are published all or nothing, and never replace a folder attnspec did not write",
          "[io][report_set]") {
  const fs::path root = fs::temp_directory_path() / "attnspec-report-sets";
  fs::remove_all(root);
  fs::create_directories(root);
  const std::string out = (root / "out").string();
  auto read = [](const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  io::write_report_set(out, {{"report.json", "{\"run\":1}"}, {"plot.svg", "<svg/>"}});
  CHECK(read(root / "out" / "report.json") == "{\"run\":1}");
  CHECK(read(root / "out" / io::report_set_manifest) == "report.json 9\nplot.svg 6\n");

  // A second run replaces the whole set: no file of the first survives beside the second's.
  io::write_report_set(out, {{"report.json", "{\"run\":2}"}});
  CHECK(read(root / "out" / "report.json") == "{\"run\":2}");
  CHECK(!fs::exists(root / "out" / "plot.svg"));

  // A failure part-way (a name the file system refuses) leaves the previous set as it was and no debris.
  require_io_error(
      [&] {
        io::write_report_set(out, {{"report.json", "{\"run\":3}"}, {std::string(300, 'x'), "?"}});
      },
      {"cannot open"});
  CHECK(read(root / "out" / "report.json") == "{\"run\":2}");
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(root)) left.push_back(entry.path().filename().string());
  CHECK(left == std::vector<std::string>{"out"});

  // A folder attnspec did not write is refused, and so are names that are not plain file names.
  fs::create_directories(root / "mine");
  std::ofstream(root / "mine" / "notes.txt") << "keep";
  require_io_error(
      [&] {
        io::write_report_set((root / "mine").string(), {{"report.json", "{}"}});
      },
      {"mine", "was not written by attnspec", "refusing to replace it"});
  CHECK(read(root / "mine" / "notes.txt") == "keep");
  std::ofstream(root / "file") << "x";
  require_io_error([&] { io::write_report_set((root / "file").string(), {{"a", ""}}); }, {"not a directory"});
  require_io_error([&] { io::write_report_set(out, {{"../escape", ""}}); }, {"'../escape' is not a plain file name"});
  require_io_error([&] { io::write_report_set(out, {{io::report_set_manifest, ""}}); }, {"not a plain file name"});
  io::write_report_set((root / "empty").string(), {});  // an empty set is a folder with only the manifest
  CHECK(fs::exists(root / "empty" / io::report_set_manifest));
  fs::remove_all(root);
}

TEST_CASE("special files are refused without blocking: pipes, directories, devices, loops", "[io][special]") {
  const fs::path root = fs::temp_directory_path() / "attnspec-special-files";
  fs::remove_all(root);
  fs::create_directories(root);
  const std::string pipe = (root / "config.json").string();
  REQUIRE(::mkfifo(pipe.c_str(), 0600) == 0);  // nobody writes to it: a blocking open would never return
  require_io_error([&] { (void)io::read_model_config(pipe); }, {"config.json", "is a named pipe, not a regular file"});
  require_io_error([&] { io::SafetensorsFile{pipe}; }, {"named pipe"});
  require_io_error([&] { (void)io::read_npy(root.string()); }, {"is a directory, not a regular file"});
  fs::create_symlink("/dev/zero", root / "endless.json");
  require_io_error([&] { (void)io::read_model_config((root / "endless.json").string()); },
                   {"endless.json", "is a character device"});
  fs::create_symlink(root / "loop_b", root / "loop_a");
  fs::create_symlink(root / "loop_a", root / "loop_b");
  require_io_error([&] { (void)io::read_model_config((root / "loop_a").string()); }, {"loop_a", "cannot open"});
  // A config.json too large for one: refused by its size, before it is read.
  const std::string huge = (root / "huge.json").string();
  std::ofstream(huge).close();
  fs::resize_file(huge, std::uintmax_t{17} << 20);
  require_io_error([&] { (void)io::read_model_config(huge); }, {"huge.json", "17825792 bytes, more than the 16777216"});
  fs::remove_all(root);
}

TEST_CASE("JSON: many keys parse in O(n log n), duplicates anywhere are found, UTF-8 is checked", "[io][json]") {
  std::string many = "{";
  const int keys = 300000;  // the duplicate check was quadratic: this took minutes
  for (int i = 0; i < keys; ++i) many += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
  const io::JsonValue parsed = io::parse_json(many + "}", "many");
  REQUIRE(parsed.members.size() == static_cast<std::size_t>(keys));
  CHECK(io::json_unsigned(parsed.members.back().second, "many", "last") == keys - 1);
  require_io_error([&] { (void)io::parse_json(many + ",\"k150000\":0}", "many"); }, {"duplicate key"});

  CHECK(io::parse_json("{\"caf\xC3\xA9\":\"\xE2\x82\xAC\xF0\x9F\x98\x80\"}", "utf8").members[0].first == "caf\xC3\xA9");
  for (const char* bad :
       {"\"\xC3\"", "\"\x80\"", "\"\xC0\xAF\"", "\"\xED\xA0\x80\"", "\"\xF4\x90\x80\x80\"", "\"\xFF\""}) {
    INFO(bad);
    require_io_error([&] { (void)io::parse_json(bad, "bytes"); }, {"invalid UTF-8 in string"});
  }
  // Writing: invalid bytes become U+FFFD, so a report is valid JSON whatever a path holds.
  CHECK(io::json_quote("a\xFF"
                       "b\xC3\xA9") ==
        "\"a\xEF\xBF\xBD"
        "b\xC3\xA9\"");
  CHECK(io::parse_json(io::json_quote("\xC3(\x80"), "quoted").text == "\xEF\xBF\xBD(\xEF\xBF\xBD");
}

TEST_CASE("an index's shard name with a NUL or control character is refused", "[io][checkpoint][errors]") {
  const fs::path root = fs::temp_directory_path() / "attnspec-control-names";
  fs::remove_all(root);
  fs::create_directories(root);
  std::ofstream(root / "model.safetensors.index.json")
      << R"({"weight_map":{"w":"model.safetensors\u0000../../etc/passwd"}})";
  require_io_error([&] { io::Checkpoint{root.string()}; },
                   {"'model.safetensors\\u0000../../etc/passwd' is not a plain file name"});
  std::ofstream(root / "model.safetensors.index.json") << R"({"weight_map":{"w":"model\u001b[2J.safetensors"}})";
  require_io_error([&] { io::Checkpoint{root.string()}; }, {"is not a plain file name"});
  fs::remove_all(root);
}
