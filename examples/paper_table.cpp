// The main job: a host inference engine (examples/decoder/decoder_forward.hpp) runs checkpoints of any family
// attnspec reads (GPT-2, Llama, Mistral, Qwen-2) on held-out text, hands every head's queries, keys and W_Q/W_K
// slices to the attnspec pipeline layer by layer as the forward pass streams, and prints the paper's table — per
// model, text and length: k@0.9 of the field E~ and of M (min / median / max over heads), the effective-rank gap,
// and the worst-row TV at k@0.9 of E~ (certified and measured). For rotary models a second row analyses the
// queries and keys before the rotation, to show how much of the field's structure comes from positions. Writes
// report.json, heads.csv and one spectra_<model>[_pre_rope].svg per model to the output folder.
//
//   paper_table --model NAME=DIR [--model ...] --text PATH [--text ...] [--tokens 512,1024] [--out DIR]
//               [--causal-field]
//
// --causal-field adds k@0.9 of the causal field (each row centred over the keys a causal softmax lets it see,
// CausalLogitEnergyField) beside that of E~, which centres every row over all keys.
//
// A text is read as bytes (the shipped models are byte-level) or, if it ends in .npy, as token ids (int32 or
// int64, e.g. from a real model's tokenizer).
#include <attnspec/io/model_adapters.hpp>
#include <attnspec/io/npy.hpp>
#include <attnspec/io/report_writers.hpp>
#include <attnspec/io/svg_plot.hpp>
#include <attnspec/pipeline.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "command_line.hpp"
#include "decoder/decoder_forward.hpp"
#include "progress.hpp"

namespace {

struct Arguments {
  std::vector<std::pair<std::string, std::string>> models;  // name, checkpoint directory
  std::vector<std::string> texts;
  std::vector<Eigen::Index> tokens = {512, 1024};
  std::string out = "attnspec-out";
  bool causal_field = false;
};

constexpr const char* usage_text =
    "usage: paper_table --model NAME=DIR [--model ...] --text PATH [--text ...]\n"
    "                   [--tokens 512,1024] [--out DIR] [--causal-field]   (--option=VALUE works too)\n"
    "  --model NAME=DIR  a checkpoint (config.json + model.safetensors or shards) of a GPT-2, Llama, Mistral or\n"
    "                    Qwen-2 model, shown as NAME\n"
    "  --text PATH       bytes of text (byte-level models), or token ids as an int32/int64 .npy file\n"
    "  --tokens LIST     the lengths n to analyse, comma-separated (default 512,1024)\n"
    "  --out DIR         where report.json, heads.csv and the plots go (default attnspec-out), replaced as a set\n"
    "  --causal-field    also k@0.9 of the causal field, each row centred over the keys it sees\n"
    "  --help, -h        this text;  --version  attnspec's version\n"
    "exit status: 0 done, 1 an input or analysis error, 2 a usage error\n";

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr, "paper_table: %s\n%s", problem.c_str(), usage_text);
  std::exit(2);
}

// A positive token count, the whole text of `item` (no sign, no trailing characters).
Eigen::Index parse_count(const std::string& item) {
  const std::optional<Eigen::Index> count = parse_number<Eigen::Index>(item);
  if (!count || *count <= 0) usage("--tokens takes positive whole numbers separated by commas, not '" + item + "'");
  return *count;
}

Arguments parse(int argc, char** argv) {
  Arguments args;
  ArgumentReader arguments(argc, argv, usage);
  while (arguments.next()) {
    const std::string& flag = arguments.flag();
    if (flag == "--help" || flag == "-h") {
      std::printf("%s", usage_text);
      std::exit(0);
    } else if (flag == "--version") {
      std::printf("paper_table (attnspec %s)\n", ATTNSPEC_VERSION_STRING);
      std::exit(0);
    } else if (flag == "--causal-field") {
      args.causal_field = true;
    } else if (flag == "--model") {
      const std::string value = arguments.value();
      const auto equals = value.find('=');
      if (equals == std::string::npos || equals == 0) usage("--model takes NAME=DIR");
      args.models.emplace_back(value.substr(0, equals), value.substr(equals + 1));
    } else if (flag == "--text") {
      args.texts.push_back(arguments.value());
    } else if (flag == "--tokens") {
      args.tokens.clear();
      std::stringstream list(arguments.value());
      for (std::string item; std::getline(list, item, ',');) args.tokens.push_back(parse_count(item));
      if (args.tokens.empty()) usage("--tokens needs at least one length");
    } else if (flag == "--out") {
      args.out = arguments.value();
    } else {
      usage("unknown option " + flag);
    }
  }
  if (args.models.empty() || args.texts.empty()) usage("give at least one --model and one --text");
  return args;
}

// The first `count` tokens of a text: its bytes (the shipped models are byte-level), or the token ids of a .npy
// file (int32 or int64, from a real tokenizer).
std::vector<std::int64_t> read_tokens(const std::string& path, Eigen::Index count, Eigen::Index vocab_size) {
  std::vector<std::int64_t> tokens;
  if (std::filesystem::path(path).extension() == ".npy") {
    tokens = attnspec::io::read_token_ids(path, vocab_size);
  } else {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw attnspec::io_error(path, "cannot open");
    const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    for (const char byte : text) tokens.push_back(static_cast<unsigned char>(byte));
  }
  if (static_cast<Eigen::Index>(tokens.size()) < count) {
    throw attnspec::invalid_argument("paper_table: " + path + " has " + std::to_string(tokens.size()) +
                                     " tokens, fewer than the " + std::to_string(count) + " asked for");
  }
  tokens.resize(static_cast<std::size_t>(count));
  return tokens;
}

/// Which queries and keys a run analysed.
enum class Positions { learned, rotated, before_rotation };

const char* positions_label(Positions positions) {
  switch (positions) {
    case Positions::learned:
      return "learned";
    case Positions::rotated:
      return "RoPE";
    case Positions::before_rotation:
      return "pre-RoPE";
  }
  return "";
}

struct Run {
  std::string model, text;
  Eigen::Index tokens;
  double bits_per_token;
  Positions positions;
  attnspec::ModelReport report;
};

std::string spread(const attnspec::Spread& s, const char* format) {
  char text[64];
  std::snprintf(text, sizeof text, format, s.min, s.median, s.max);
  return text;
}

void print_table(const std::vector<Run>& runs, bool causal_field) {
  std::printf("%-14s %-19s %5s %6s %-8s  %-14s %-14s %-17s %-15s %-15s%s\n", "model", "text", "n", "bits/tok", "Q/K",
              "k@0.9 E~", "k@0.9 M", "eff.-rank gap", "TV cert.", "TV meas.", causal_field ? "k@0.9 causal" : "");
  std::printf("%-14s %-19s %5s %6s %-8s  %-14s %-14s %-17s %-15s %-15s%s\n", "", "", "", "", "", "min/med/max",
              "min/med/max", "min/med/max", "median/max", "median/max", causal_field ? "min/med/max" : "");
  for (const Run& run : runs) {
    const attnspec::LayerSummary& all = run.report.overall;
    char certified[32], measured[32];
    std::snprintf(certified, sizeof certified, "%.3f/%.3f", all.certified_max_tv.median, all.certified_max_tv.max);
    std::snprintf(measured, sizeof measured, "%.3f/%.3f", all.measured_max_tv.median, all.measured_max_tv.max);
    std::printf("%-14s %-19s %5ld %6.2f %-8s  %-14s %-14s %-17s %-15s %-15s%s\n", run.model.c_str(), run.text.c_str(),
                static_cast<long>(run.tokens), run.bits_per_token, positions_label(run.positions),
                spread(all.field_rank, "%.0f/%.1f/%.0f").c_str(),
                spread(all.interaction_rank, "%.0f/%.1f/%.0f").c_str(),
                spread(all.effective_rank_gap, "%.1f/%.1f/%.1f").c_str(), certified, measured,
                causal_field ? spread(all.causal_field_rank, "%.0f/%.1f/%.0f").c_str() : "");
  }
}

// One plot per model and kind of Q/K: every head of every text at the model's longest length.
void add_plots(std::vector<std::pair<std::string, std::string>>& files, const std::vector<Run>& runs) {
  std::vector<std::pair<std::string, Positions>> written;
  for (const Run& run : runs) {
    const std::pair<std::string, Positions> key{run.model, run.positions};
    if (std::find(written.begin(), written.end(), key) != written.end()) continue;
    written.push_back(key);
    attnspec::ModelReport pooled;
    Eigen::Index longest = 0;
    for (const Run& other : runs) {
      if (other.model == run.model) longest = std::max(longest, other.tokens);
    }
    bool first_text = true;
    for (const Run& other : runs) {
      if (other.model != run.model || other.positions != run.positions || other.tokens != longest) continue;
      pooled.options = other.report.options;
      for (attnspec::HeadReport head : other.report.heads) {
        if (!first_text) head.interaction.reset();  // M does not depend on the text: draw each head's once
        pooled.heads.push_back(std::move(head));
      }
      first_text = false;
    }
    attnspec::summarise_layers(pooled);
    const bool before = run.positions == Positions::before_rotation;
    attnspec::io::SvgPlotOptions plot;
    plot.title = run.model + ": cumulative variance of Ẽ" + (before ? " before RoPE" : "") +
                 " (every head on every text, n = " + std::to_string(longest) + ") and M";
    files.emplace_back("spectra_" + run.model + (before ? "_pre_rope" : "") + ".svg",
                       attnspec::io::svg_plot(pooled, plot));
  }
}

// report.json, heads.csv and the plots, published together: the folder holds one run's outputs or the previous.
void write_outputs(const std::string& out, const std::vector<Run>& runs) {
  std::string json = "{\"runs\":[";
  std::string csv;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const Run& run = runs[i];
    const attnspec::io::Provenance provenance = {{"model", run.model},
                                                 {"text", run.text},
                                                 {"tokens", std::to_string(run.tokens)},
                                                 {"bits_per_token", attnspec::io::json_double(run.bits_per_token)},
                                                 {"queries_keys", positions_label(run.positions)},
                                                 {"forward_pass", "examples/decoder/decoder_forward.hpp (float)"}};
    json += (i ? ",\n" : "\n") + attnspec::io::json_report(run.report, provenance);
    std::stringstream rows(attnspec::io::csv_report(run.report));
    std::string line;
    std::getline(rows, line);
    if (i == 0) csv += "model,text,tokens,queries_keys," + line + "\n";
    while (std::getline(rows, line)) {
      csv += run.model + "," + run.text + "," + std::to_string(run.tokens) + "," + positions_label(run.positions) +
             "," + line + "\n";
    }
  }
  std::vector<std::pair<std::string, std::string>> files = {{"report.json", json + "]}\n"}, {"heads.csv", csv}};
  add_plots(files, runs);
  attnspec::io::write_report_set(out, files);
}

// The heads of one layer, from one forward pass's queries and keys ([seq, heads·d]) and the checkpoint's weights.
std::vector<attnspec::HeadReport> analyse_layer(const attnspec::io::ModelWeights& weights, Eigen::Index layer,
                                                const decoder::Matrix& queries, const decoder::Matrix& keys,
                                                const attnspec::PipelineOptions& options) {
  const attnspec::io::ModelConfig& config = weights.config();
  const Eigen::Index d = config.head_dim;
  std::vector<attnspec::HeadId> units = attnspec::model_heads(1, config.query_heads, config.kv_heads);
  for (attnspec::HeadId& unit : units) unit.layer = layer;
  auto load = [&](const attnspec::HeadId& id) {
    attnspec::HeadInput<double> input = weights.input<double>(id);
    input.queries = queries.middleCols(id.first_query_head * d, d).cast<double>();
    input.keys = keys.middleCols(id.kv_head * d, d).cast<double>();
    return input;
  };
  return attnspec::analyse_model<double>(units, load, options).heads;
}

int run(const Arguments& args) {
  std::vector<Run> runs;
  std::size_t total_heads = 0;
  std::vector<std::unique_ptr<attnspec::io::ModelWeights>> checkpoints;
  for (const auto& model_argument : args.models) {
    checkpoints.push_back(std::make_unique<attnspec::io::ModelWeights>(model_argument.second));
    const attnspec::io::ModelConfig& config = checkpoints.back()->config();
    total_heads += args.texts.size() * args.tokens.size() *
                   static_cast<std::size_t>(config.layers * config.query_heads) * (config.rotary ? 2 : 1);
  }
  Progress progress(total_heads);
  std::size_t done_heads = 0;
  for (std::size_t m = 0; m < args.models.size(); ++m) {
    const auto& [name, directory] = args.models[m];
    const attnspec::io::ModelWeights& weights = *checkpoints[m];
    const decoder::Model model(weights);
    const attnspec::io::ModelConfig& config = model.config();
    for (const std::string& text : args.texts) {
      for (const Eigen::Index n : args.tokens) {
        if (n > config.context) {
          throw attnspec::invalid_argument("paper_table: n = " + std::to_string(n) + " exceeds the context of " +
                                           directory + " (" + std::to_string(config.context) + ")");
        }
        const std::vector<std::int64_t> tokens = read_tokens(text, n, model.vocab_size());
        attnspec::PipelineOptions options;
        options.causal_field = args.causal_field;
        const std::string stem = std::filesystem::path(text).stem().string();
        Run rotated{name, stem, n, 0, config.rotary ? Positions::rotated : Positions::learned, {}};
        Run before{name, stem, n, 0, Positions::before_rotation, {}};
        const decoder::Matrix hidden = model.forward(tokens, [&](const decoder::LayerActivations& layer) {
          auto append = [&](Run& into, const decoder::Matrix& queries, const decoder::Matrix& keys) {
            for (auto& head : analyse_layer(weights, layer.layer, queries, keys, options)) {
              into.report.heads.push_back(std::move(head));
            }
            done_heads += static_cast<std::size_t>(config.query_heads);
            progress.update(done_heads);
          };
          append(rotated, layer.queries, layer.keys);
          if (config.rotary) append(before, layer.queries_before_rotation, layer.keys_before_rotation);
        });
        const double bits = model.next_token_bits(hidden, tokens);
        for (Run* finished : {&rotated, &before}) {
          if (finished->report.heads.empty()) continue;
          finished->bits_per_token = bits;
          finished->report.options = options;
          attnspec::summarise_layers(finished->report);
          runs.push_back(std::move(*finished));
        }
      }
    }
  }
  print_table(runs, args.causal_field);
  write_outputs(args.out, runs);
  std::printf("wrote %s/report.json, %s/heads.csv and spectra_<model>[_pre_rope].svg\n", args.out.c_str(),
              args.out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Arguments args = parse(argc, argv);
  try {
    if (!args.out.empty()) attnspec::io::check_report_set_target(args.out);  // refused now, not after the runs
    return run(args);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "paper_table: %s\n", error.what());
    return 1;
  }
}
