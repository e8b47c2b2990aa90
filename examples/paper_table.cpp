// The main job: a host inference engine (examples/gpt2/gpt2_forward.hpp) runs GPT-2 checkpoints on held-out text,
// hands every head's queries, keys and W_Q/W_K slices to the attnspec pipeline, and prints the paper's table —
// per model, text and length: k@0.9 of the field E~ and of M (min / median / max over heads), the effective-rank
// gap, and the worst-row TV at k@0.9 of E~ (certified and measured). Writes report.json, heads.csv and one
// spectra_<model>.svg per model to the output folder.
//
//   paper_table --model NAME=DIR [--model ...] --text PATH [--text ...] [--tokens 512,1024] [--out DIR]
//
// A text is read as bytes (the shipped models are byte-level) or, if it ends in .npy, as token ids.
#include <attnspec/io/model_adapters.hpp>
#include <attnspec/io/npy.hpp>
#include <attnspec/io/report_writers.hpp>
#include <attnspec/io/svg_plot.hpp>
#include <attnspec/pipeline.hpp>

#include <unistd.h>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "gpt2/gpt2_forward.hpp"

namespace {

struct Arguments {
  std::vector<std::pair<std::string, std::string>> models;  // name, checkpoint directory
  std::vector<std::string> texts;
  std::vector<Eigen::Index> tokens = {512, 1024};
  std::string out = "attnspec-out";
};

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr,
               "paper_table: %s\nusage: paper_table --model NAME=DIR [--model ...] --text PATH [--text ...]\n"
               "                   [--tokens 512,1024] [--out DIR]\n",
               problem.c_str());
  std::exit(2);
}

Arguments parse(int argc, char** argv) {
  Arguments args;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--model") {
      const auto equals = value.find('=');
      if (equals == std::string::npos) usage("--model takes NAME=DIR");
      args.models.emplace_back(value.substr(0, equals), value.substr(equals + 1));
    } else if (flag == "--text") {
      args.texts.push_back(value);
    } else if (flag == "--tokens") {
      args.tokens.clear();
      std::stringstream list(value);
      for (std::string item; std::getline(list, item, ',');) args.tokens.push_back(std::atol(item.c_str()));
    } else if (flag == "--out") {
      args.out = value;
    } else {
      usage("unknown option " + flag);
    }
  }
  if (args.models.empty() || args.texts.empty()) usage("give at least one --model and one --text");
  return args;
}

// The first `count` tokens of a text: its bytes (the shipped models are byte-level), or, for a .npy file, the
// token ids stored in it (as float64, e.g. from a BPE tokenizer for a real GPT-2).
std::vector<int> read_tokens(const std::string& path, Eigen::Index count) {
  std::vector<int> tokens;
  if (std::filesystem::path(path).extension() == ".npy") {
    const Eigen::VectorXd ids = attnspec::io::read_npy(path).matrix<double>().reshaped();
    for (Eigen::Index i = 0; i < std::min(count, ids.size()); ++i) tokens.push_back(static_cast<int>(ids(i)));
  } else {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw attnspec::io_error("[attnspec.io_error] " + path + ": cannot open");
    const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    for (std::size_t i = 0; i < std::min<std::size_t>(static_cast<std::size_t>(count), text.size()); ++i) {
      tokens.push_back(static_cast<unsigned char>(text[i]));
    }
  }
  if (static_cast<Eigen::Index>(tokens.size()) < count) {
    throw attnspec::invalid_argument("[attnspec.invalid_argument] paper_table: " + path + " has " +
                                     std::to_string(tokens.size()) + " tokens, fewer than the " +
                                     std::to_string(count) + " asked for");
  }
  return tokens;
}

// Mean next-byte loss of the forward pass in bits: a check that the engine computes a language model.
double bits_per_byte(const gpt2::Matrix& logits, const std::vector<int>& tokens) {
  double total = 0;
  for (Eigen::Index t = 0; t + 1 < logits.rows(); ++t) {
    const auto row = logits.row(t).cast<double>().array();
    const double top = row.maxCoeff();
    total += top + std::log((row - top).exp().sum()) - row(tokens[static_cast<std::size_t>(t + 1)]);
  }
  return total / double(logits.rows() - 1) / std::log(2.0);
}

struct Run {
  std::string model, text;
  Eigen::Index tokens;
  double bits_per_byte;
  attnspec::ModelReport report;
};

std::string spread(const attnspec::Spread& s, const char* format) {
  char text[64];
  std::snprintf(text, sizeof text, format, s.min, s.median, s.max);
  return text;
}

void print_table(const std::vector<Run>& runs) {
  std::printf("%-8s %-20s %5s %6s  %-14s %-14s %-17s %-15s %-15s\n", "model", "text", "n", "bits/B", "k@0.9 E~",
              "k@0.9 M", "eff.-rank gap", "TV cert.", "TV meas.");
  std::printf("%-8s %-20s %5s %6s  %-14s %-14s %-17s %-15s %-15s\n", "", "", "", "", "min/med/max", "min/med/max",
              "min/med/max", "median/max", "median/max");
  for (const Run& run : runs) {
    const attnspec::LayerSummary& all = run.report.overall;
    char certified[32], measured[32];
    std::snprintf(certified, sizeof certified, "%.3f/%.3f", all.certified_max_tv.median, all.certified_max_tv.max);
    std::snprintf(measured, sizeof measured, "%.3f/%.3f", all.measured_max_tv.median, all.measured_max_tv.max);
    std::printf("%-8s %-20s %5ld %6.2f  %-14s %-14s %-17s %-15s %-15s\n", run.model.c_str(), run.text.c_str(),
                static_cast<long>(run.tokens), run.bits_per_byte, spread(all.field_rank, "%.0f/%.1f/%.0f").c_str(),
                spread(all.interaction_rank, "%.0f/%.1f/%.0f").c_str(),
                spread(all.effective_rank_gap, "%.1f/%.1f/%.1f").c_str(), certified, measured);
  }
}

void write_outputs(const std::string& out, const std::vector<Run>& runs) {
  std::filesystem::create_directories(out);
  std::string json = "{\"runs\":[";
  std::string csv;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const Run& run = runs[i];
    const attnspec::io::Provenance provenance = {{"model", run.model},
                                                 {"text", run.text},
                                                 {"tokens", std::to_string(run.tokens)},
                                                 {"bits_per_byte", attnspec::io::json_double(run.bits_per_byte)},
                                                 {"forward_pass", "examples/gpt2/gpt2_forward.hpp (float)"}};
    json += (i ? ",\n" : "\n") + attnspec::io::json_report(run.report, provenance);
    std::stringstream rows(attnspec::io::csv_report(run.report));
    std::string line;
    std::getline(rows, line);
    if (i == 0) csv += "model,text,tokens," + line + "\n";
    while (std::getline(rows, line))
      csv += run.model + "," + run.text + "," + std::to_string(run.tokens) + "," + line + "\n";
  }
  attnspec::io::write_file_atomically(out + "/report.json", json + "]}\n");
  attnspec::io::write_file_atomically(out + "/heads.csv", csv);
  // One plot per model: every head of every text at the longest length.
  std::vector<std::string> written;
  for (const Run& run : runs) {
    if (std::find(written.begin(), written.end(), run.model) != written.end()) continue;
    written.push_back(run.model);
    attnspec::ModelReport pooled;
    Eigen::Index longest = 0;
    for (const Run& other : runs) {
      if (other.model == run.model) longest = std::max(longest, other.tokens);
    }
    bool first_text = true;
    for (const Run& other : runs) {
      if (other.model != run.model || other.tokens != longest) continue;
      pooled.options = other.report.options;
      for (attnspec::HeadReport head : other.report.heads) {
        if (!first_text) head.interaction.reset();  // M does not depend on the text: draw each head's once
        pooled.heads.push_back(std::move(head));
      }
      first_text = false;
    }
    pooled.overall = attnspec::detail::summarise(-1, [&] {
      std::vector<const attnspec::HeadReport*> heads;
      for (const auto& head : pooled.heads) heads.push_back(&head);
      return heads;
    }());
    attnspec::io::SvgPlotOptions plot;
    plot.title =
        run.model + ": cumulative variance of Ẽ (every head on every text, n = " + std::to_string(longest) + ") and M";
    attnspec::io::write_svg_plot(out + "/spectra_" + run.model + ".svg", pooled, plot);
  }
}

int run(const Arguments& args) {
  std::vector<Run> runs;
  std::size_t done_units = 0;
  for (const auto& [name, directory] : args.models) {
    const attnspec::io::ModelWeights weights(directory);
    const gpt2::Model model(weights);
    const attnspec::io::ModelConfig& config = model.config();
    const std::size_t total = args.models.size() * args.texts.size() * args.tokens.size() *
                              static_cast<std::size_t>(config.layers * config.query_heads);
    for (const std::string& text : args.texts) {
      for (const Eigen::Index n : args.tokens) {
        if (n > config.context) {
          throw attnspec::invalid_argument("[attnspec.invalid_argument] paper_table: n = " + std::to_string(n) +
                                           " exceeds the context of " + directory + " (" +
                                           std::to_string(config.context) + ")");
        }
        const std::vector<int> tokens = read_tokens(text, n);
        const gpt2::ForwardResult forward = model.forward(tokens);
        const Eigen::Index d = config.head_dim;
        auto load = [&](const attnspec::HeadId& id) {
          const auto layer = static_cast<std::size_t>(id.layer);
          auto head_weights = weights.heads<double>(id.layer, id.first_query_head, 1);
          attnspec::HeadInput<double> input;
          input.queries = forward.queries[layer].middleCols(id.first_query_head * d, d).cast<double>();
          input.keys = forward.keys[layer].middleCols(id.kv_head * d, d).cast<double>();
          input.query_weight = std::move(head_weights.query_weight);
          input.key_weight = std::move(head_weights.key_weight);
          input.preparation = head_weights.preparation;
          return input;
        };
        attnspec::PipelineOptions options;
        if (isatty(STDERR_FILENO)) {
          const std::size_t before = done_units;
          options.progress = [before, total](std::size_t done, std::size_t) {
            std::fprintf(stderr, "\r%zu/%zu heads analysed", before + done, total);
            return true;
          };
        }
        const auto units = attnspec::model_heads(config.layers, config.query_heads, config.kv_heads);
        runs.push_back({name, std::filesystem::path(text).stem().string(), n, bits_per_byte(forward.logits, tokens),
                        attnspec::analyse_model<double>(units, load, options)});
        done_units += units.size();
      }
    }
  }
  if (isatty(STDERR_FILENO)) std::fprintf(stderr, "\n");
  print_table(runs);
  write_outputs(args.out, runs);
  std::printf("wrote %s/report.json, %s/heads.csv and spectra_<model>.svg\n", args.out.c_str(), args.out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Arguments args = parse(argc, argv);
  try {
    return run(args);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "paper_table: %s\n", error.what());
    return 1;
  }
}
