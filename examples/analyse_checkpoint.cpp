// Analyse every head of a GPT-2 / Llama / Mistral / Qwen-2 safetensors checkpoint (one file or sharded): the
// interaction matrix M of each head from the weights and, given a dump of per-layer queries and keys (npy files
// or safetensors, as examples/python/dump_qk_with_hooks.py writes), the logit energy field E~ and its stability.
//
//   analyse_checkpoint CHECKPOINT [--dump PATH] [--out DIR] [--tau T] [--threads N] [--per-kv-head]
//                      [--fold-norm] [--biases] [--no-stability] [--heads]
#include <attnspec/io/activation_dump.hpp>
#include <attnspec/io/model_adapters.hpp>
#include <attnspec/io/report_shards.hpp>
#include <attnspec/io/write_report.hpp>
#include <attnspec/pipeline.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "command_line.hpp"
#include "progress.hpp"
#ifdef ATTNSPEC_EXAMPLES_MPI
#include <attnspec/io/report_reader.hpp>

#include "mpi_ranks.hpp"
#endif

namespace {

struct Arguments {
  std::string checkpoint, dump, out;
  std::optional<attnspec::HeadLayout> dump_layout;
  std::optional<attnspec::io::Shard> shard;
  attnspec::PipelineOptions pipeline;
  attnspec::io::AdapterOptions adapter;
  attnspec::QueryGrouping grouping = attnspec::QueryGrouping::per_query_head;
  bool per_head_table = false;
  bool split_stability = false;
};

const char* const usage_text =
    "usage: analyse_checkpoint CHECKPOINT [options]     (--option VALUE and --option=VALUE both work)\n"
    "  CHECKPOINT      a directory with config.json and model.safetensors (or its shards and\n"
    "                  model.safetensors.index.json), or one of those files\n"
    "  --dump PATH     per-layer queries/keys: a directory of layers.<l>.query.npy / layers.<l>.key.npy or a\n"
    "                  safetensors file with those tensor names; [heads, seq, d], [seq, heads, d] or\n"
    "                  [seq, heads*d]. Without it only M is analysed (from the weights)\n"
    "  --dump-layout L the layout of 3-D dumps, heads,seq,d or seq,heads,d (needed only when a dump has as\n"
    "                  many tokens as heads; otherwise read from the shape)\n"
    "  --out DIR       write report.json, heads.csv, spectra.svg and summary.txt there, all or nothing; DIR must\n"
    "                  be absent, empty or a report set written before (checked before the analysis starts)\n"
    "  --tau T         the variance fraction of k@tau, in (0, 1] (default 0.9)\n"
    "  --threads N     heads analysed at once (default 0: every hardware thread)\n"
    "  --per-kv-head   one unit per KV group (the group's queries stacked) instead of one per query head\n"
    "  --fold-norm     fold the pre-attention norm's gain into W_Q and W_K\n"
    "  --biases        include the q/k biases (augmenting the input with a constant coordinate)\n"
    "  --no-stability  skip the softmax-stability figures\n"
    "  --heads         print one line per head as well as the summary table\n"
    "  --shard I/N     analyse only shard I of N (units I, I+N, ...; a job array's task); merge the N reports\n"
    "                  with merge_reports into the report one run writes\n"
    "  --split-stability  under MPI: every rank analyses every unit and each head's stability pass is split\n"
    "                  across the ranks by row blocks (long contexts, where that pass dominates); one thread\n"
    "  --help, -h      this text;  --version  attnspec's version\n"
    "exit status: 0 done, 1 an input or analysis error, 2 a usage error\n";

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr, "analyse_checkpoint: %s\n%s", problem.c_str(), usage_text);
  std::exit(2);
}

Arguments parse(int argc, char** argv) {
  Arguments args;
  ArgumentReader arguments(argc, argv, usage);
  while (arguments.next()) {
    const std::string& flag = arguments.flag();
    auto value = [&] { return arguments.value(); };
    if (flag == "--help" || flag == "-h") {
      std::printf("%s", usage_text);
      std::exit(0);
    } else if (flag == "--version") {
      std::printf("analyse_checkpoint (attnspec %s)\n", ATTNSPEC_VERSION_STRING);
      std::exit(0);
    } else if (flag == "--dump") {
      args.dump = value();
    } else if (flag == "--dump-layout") {
      const std::string text = value();
      if (text != "heads,seq,d" && text != "seq,heads,d") {
        usage("--dump-layout takes heads,seq,d or seq,heads,d, not '" + text + "'");
      }
      args.dump_layout =
          text == "heads,seq,d" ? attnspec::HeadLayout::heads_seq_dim : attnspec::HeadLayout::seq_heads_dim;
    } else if (flag == "--out") {
      args.out = value();
    } else if (flag == "--tau") {
      const std::string text = value();
      const std::optional<double> tau = parse_number<double>(text);
      if (!tau || !(*tau > 0 && *tau <= 1)) usage("--tau takes a number in (0, 1], not '" + text + "'");
      args.pipeline.tau = *tau;
    } else if (flag == "--threads") {
      const std::string text = value();
      const std::optional<unsigned> threads = parse_number<unsigned>(text);
      if (!threads) usage("--threads takes a whole number (0: all), not '" + text + "'");
      args.pipeline.threads = *threads;
    } else if (flag == "--per-kv-head") {
      args.grouping = attnspec::QueryGrouping::per_kv_head;
    } else if (flag == "--fold-norm") {
      args.adapter.fold_norm = true;
    } else if (flag == "--biases") {
      args.adapter.biases = true;
    } else if (flag == "--no-stability") {
      args.pipeline.stability = false;
    } else if (flag == "--heads") {
      args.per_head_table = true;
    } else if (flag == "--split-stability") {
      args.split_stability = true;
    } else if (flag == "--shard") {
      const std::string text = value();
      const std::size_t slash = text.find('/');
      const auto index = parse_number<std::size_t>(text.substr(0, slash));
      const auto count = slash == std::string::npos ? std::nullopt : parse_number<std::size_t>(text.substr(slash + 1));
      if (!index || !count || *count == 0 || *index >= *count) {
        usage("--shard takes I/N with 0 <= I < N, not '" + text + "'");
      }
      args.shard = attnspec::io::Shard{*index, *count, 0};
    } else if (!flag.empty() && flag[0] == '-') {
      usage("unknown option " + flag);
    } else if (args.checkpoint.empty()) {
      args.checkpoint = flag;
    } else {
      usage("more than one checkpoint given");
    }
  }
  if (args.checkpoint.empty()) usage("no checkpoint given");
  if (args.split_stability && (args.shard || !args.pipeline.stability)) {
    usage(
        "--split-stability splits the stability pass across MPI ranks; it goes with neither --shard nor "
        "--no-stability");
  }
  return args;
}

void print_heads(const attnspec::ModelReport& report, double tau) {
  std::printf("layer head kv  k@%g(E~)  erank(E~)  k@%g(M)  erank(M)  stable(M)  gap\n", tau, tau);
  for (const auto& head : report.heads) {
    std::printf("%5ld %4ld %2ld", static_cast<long>(head.id.layer), static_cast<long>(head.id.head()),
                static_cast<long>(head.id.kv_head));
    if (head.field) {
      std::printf("  %8ld  %9.2f", static_cast<long>(head.field->rank_at_tau), head.field->entropy_effective_rank);
    } else {
      std::printf("  %8s  %9s", "-", "-");
    }
    std::printf("  %7ld  %8.2f  %9.2f", static_cast<long>(head.interaction->rank_at_tau),
                head.interaction->entropy_effective_rank, head.interaction->stable_rank);
    if (head.gap) std::printf("  %.1fx", head.gap->entropy_effective_rank);
    std::printf("\n");
  }
}

// One analysis: the report, its provenance, and the line describing the model.
struct Analysis {
  attnspec::ModelReport report;
  attnspec::io::Provenance provenance;
  std::string description;
};

// Analyses every unit of the checkpoint, or those of `shard` (the provenance then says which).
Analysis analyse(const Arguments& args, std::optional<attnspec::io::Shard> shard, bool show_progress) {
  const attnspec::io::ModelWeights model(args.checkpoint);
  const attnspec::io::ModelConfig& config = model.config();
  std::optional<attnspec::io::ActivationDump> dump;
  std::vector<attnspec::HeadActivations> queries, keys;
  if (!args.dump.empty()) {
    dump.emplace(args.dump, args.dump_layout);
    for (Eigen::Index layer = 0; layer < config.layers; ++layer) {
      using attnspec::io::ActivationDump;
      queries.push_back(dump->activations(ActivationDump::query_name(layer), config.query_heads, config.head_dim));
      keys.push_back(dump->activations(ActivationDump::key_name(layer), config.kv_heads, config.head_dim));
    }
  }

  const auto all_units = attnspec::model_heads(config.layers, config.query_heads, config.kv_heads, args.grouping);
  if (shard) shard->units = all_units.size();
  const auto units = shard ? attnspec::io::shard_units(all_units, *shard) : all_units;
  if (units.empty()) {
    throw attnspec::invalid_argument("shard " + std::to_string(shard->index) + "/" + std::to_string(shard->count) +
                                     " has no units (the model has " + std::to_string(all_units.size()) + ")");
  }
  std::function<attnspec::HeadInput<double>(const attnspec::HeadId&)> load = [&](const attnspec::HeadId& id) {
    attnspec::HeadInput<double> input = model.input<double>(id, args.adapter);
    if (dump) {
      input.queries = queries[static_cast<std::size_t>(id.layer)].heads<double>(id.first_query_head, id.query_heads);
      input.keys = keys[static_cast<std::size_t>(id.layer)].head<double>(id.kv_head);
    }
    return input;
  };
  attnspec::PipelineOptions options = args.pipeline;
  Progress progress(units.size());
  if (show_progress) {
    options.progress = [&](std::size_t done, std::size_t) {
      progress.update(done);
      return true;
    };
  }
  Analysis analysis;
  analysis.report = attnspec::analyse_model<double>(units, load, options);
  analysis.provenance = {{"checkpoint", args.checkpoint},
                         {"family", attnspec::io::family_name(config.family)},
                         {"dump", args.dump},
                         {"weight_preparation", analysis.report.heads.front().preparation}};
  if (shard) analysis.provenance = attnspec::io::shard_provenance(analysis.provenance, *shard);
  char line[512];
  std::snprintf(line, sizeof line, "%s: %s, %ld layers x %ld query heads (%ld KV heads), d = %ld, D = %ld%s",
                args.checkpoint.c_str(), attnspec::io::family_name(config.family), static_cast<long>(config.layers),
                static_cast<long>(config.query_heads), static_cast<long>(config.kv_heads),
                static_cast<long>(config.head_dim), static_cast<long>(config.model_dim),
                dump ? "" : "; weights only (pass --dump for the field)");
  analysis.description = line;
  return analysis;
}

// Prints the analysis and writes its report set when --out is given.
int publish(const Arguments& args, const Analysis& analysis) {
  std::printf("%s\n", analysis.description.c_str());
  if (args.per_head_table) print_heads(analysis.report, args.pipeline.tau);
  std::printf("%s", attnspec::io::summary_table(analysis.report).c_str());
  if (!args.out.empty()) {
    attnspec::io::write_report(args.out, analysis.report, analysis.provenance);
    std::printf("wrote %s/report.json, heads.csv, spectra.svg, summary.txt\n", args.out.c_str());
  }
  return 0;
}

#ifdef ATTNSPEC_EXAMPLES_MPI
// With --split-stability every rank analyses every unit, one at a time, computing its share of each head's stability
// pass and joining the others' (PipelineOptions::stability_share); rank 0 publishes its report, the one-process
// report byte for byte. A rank that fails ends the job at once, naming the unit: the others wait on its share.
int run_with_split_stability(Arguments args, const MpiRanks& ranks) {
  args.pipeline.threads = 1;
  args.pipeline.stability_share = {static_cast<std::size_t>(ranks.rank()), static_cast<std::size_t>(ranks.size())};
  args.pipeline.exchange_stability = [&ranks](const std::vector<double>& mine) { return ranks.all_gather(mine); };
  try {
    const Analysis analysis = analyse(args, std::nullopt, ranks.rank() == 0);
    return ranks.rank() == 0 ? publish(args, analysis) : 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "analyse_checkpoint: rank %d of %d failed: %s\n", ranks.rank(), ranks.size(), error.what());
    std::fflush(stderr);
    ranks.abort(1);
  }
}

// Under MPI with N > 1 ranks, rank r analyses shard r/N; rank 0 gathers the shards' reports, merges them into the
// report one process writes (the same bytes) and publishes it. A rank that fails sends its error instead: rank 0
// then prints every failure, naming the unit, and writes nothing.
int run_on_ranks(const Arguments& args, const MpiRanks& ranks) {
  if (args.shard) throw attnspec::invalid_argument("--shard is for separate jobs; under MPI each rank takes one shard");
  if (args.split_stability) return run_with_split_stability(args, ranks);
  const attnspec::io::Shard shard{static_cast<std::size_t>(ranks.rank()), static_cast<std::size_t>(ranks.size()), 0};
  std::string mine, description;
  try {
    const Analysis analysis = analyse(args, shard, ranks.rank() == 0);
    mine = "R" + attnspec::io::json_report(analysis.report, analysis.provenance);
    description = analysis.description;
  } catch (const std::exception& error) {
    mine = "E" + std::string(error.what());
  }
  const std::vector<std::string> gathered = ranks.gather(mine);
  if (ranks.rank() != 0) return mine[0] == 'R' ? 0 : 1;
  std::vector<attnspec::io::ShardReport> shards;
  bool failed = false;
  for (std::size_t rank = 0; rank < gathered.size(); ++rank) {
    const std::string& text = gathered[rank];
    if (text.empty() || text[0] != 'R') {
      std::fprintf(stderr, "analyse_checkpoint: rank %zu of %zu failed: %s\n", rank, gathered.size(),
                   text.empty() ? "(no message)" : text.c_str() + 1);
      failed = true;
      continue;
    }
    attnspec::io::ShardReport part;
    part.source = "rank " + std::to_string(rank);
    part.report = attnspec::io::read_json_report(std::string_view(text).substr(1), part.source, &part.provenance);
    shards.push_back(std::move(part));
  }
  if (failed) return 1;
  Analysis merged;
  std::tie(merged.report, merged.provenance) = attnspec::io::merge_report_shards(shards);
  merged.description = description;
  return publish(args, merged);
}
#endif

}  // namespace

int main(int argc, char** argv) {
#ifdef ATTNSPEC_EXAMPLES_MPI
  const MpiRanks ranks(argc, argv);
#endif
  const Arguments args = parse(argc, argv);
#ifndef ATTNSPEC_EXAMPLES_MPI
  if (args.split_stability) usage("--split-stability needs analyse_checkpoint_mpi, run under mpirun or srun");
#endif
  try {
#ifdef ATTNSPEC_EXAMPLES_MPI
    if (ranks.size() > 1) {
      // An unusable --out is refused before any rank starts (rank 0 checks, every rank learns the answer).
      std::string problem;
      if (ranks.rank() == 0 && !args.out.empty()) {
        try {
          attnspec::io::check_report_set_target(args.out);
        } catch (const std::exception& error) {
          problem = error.what();
        }
      }
      if (!ranks.broadcast(problem.empty())) {
        if (ranks.rank() == 0) std::fprintf(stderr, "analyse_checkpoint: %s\n", problem.c_str());
        return 1;
      }
      return run_on_ranks(args, ranks);
    }
#endif
    if (!args.out.empty()) attnspec::io::check_report_set_target(args.out);  // refused now, not after the analysis
    return publish(args, analyse(args, args.shard, true));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "analyse_checkpoint: %s\n", error.what());
    return 1;
  }
}
