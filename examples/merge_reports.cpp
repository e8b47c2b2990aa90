// merge_reports: the reports of the N shards of one analysis (analyse_checkpoint --shard I/N, for instance the
// tasks of a Slurm job array) merged into the report one run writes: report.json, heads.csv, spectra.svg and
// summary.txt, all or nothing.
//
//   merge_reports --out DIR SHARD_DIR [SHARD_DIR ...]
//
// A missing, repeated or foreign shard (another checkpoint, options, precision or attnspec version) is refused
// by name and nothing is written. Exit status: 0 done, 1 an input error, 2 a usage error.
#include <attnspec/io/mapped_file.hpp>
#include <attnspec/io/report_reader.hpp>
#include <attnspec/io/report_shards.hpp>
#include <attnspec/io/write_report.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "command_line.hpp"

namespace {

const char* const usage_text =
    "usage: merge_reports --out DIR SHARD_DIR [SHARD_DIR ...]     (--out=DIR works too)\n"
    "  SHARD_DIR  a report folder written by analyse_checkpoint --shard I/N; give all N\n"
    "  --out DIR  where the merged report set goes (absent, empty or a report set written before)\n"
    "  --help, -h this text;  --version  attnspec's version\n"
    "exit status: 0 done, 1 an input error, 2 a usage error\n";

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr, "merge_reports: %s\n%s", problem.c_str(), usage_text);
  std::exit(2);
}

// A shard's report.json, at most 1 GiB (a report of 5,120 heads with full spectra is tens of megabytes).
attnspec::io::ShardReport read_shard(const std::string& directory) {
  attnspec::io::ShardReport shard;
  shard.source = directory + "/report.json";
  const std::vector<unsigned char> bytes = attnspec::io::detail::read_whole_file(shard.source, std::size_t{1} << 30);
  shard.report =
      attnspec::io::read_json_report(std::string(bytes.begin(), bytes.end()), shard.source, &shard.provenance);
  return shard;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out;
  std::vector<std::string> directories;
  ArgumentReader arguments(argc, argv, usage);
  while (arguments.next()) {
    const std::string& flag = arguments.flag();
    if (flag == "--help" || flag == "-h") {
      std::printf("%s", usage_text);
      return 0;
    } else if (flag == "--version") {
      std::printf("merge_reports (attnspec %s)\n", ATTNSPEC_VERSION_STRING);
      return 0;
    } else if (flag == "--out") {
      out = arguments.value();
    } else if (!flag.empty() && flag[0] == '-') {
      usage("unknown option " + flag);
    } else {
      directories.push_back(flag);
    }
  }
  if (out.empty()) usage("--out is required");
  if (directories.empty()) usage("no shard reports given");
  try {
    attnspec::io::check_report_set_target(out);
    std::vector<attnspec::io::ShardReport> shards;
    for (const std::string& directory : directories) shards.push_back(read_shard(directory));
    const auto [report, provenance] = attnspec::io::merge_report_shards(shards);
    attnspec::io::write_report(out, report, provenance);
    std::printf("merged %zu shards (%zu units) into %s\n", shards.size(), report.heads.size(), out.c_str());
    std::printf("%s", attnspec::io::summary_table(report).c_str());
  } catch (const std::exception& error) {
    std::fprintf(stderr, "merge_reports: %s\n", error.what());
    return 1;
  }
  return 0;
}
