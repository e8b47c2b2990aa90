// The report format, as attnspec writes it: `report_format schema` prints the JSON Schema every report.json
// validates against (docs/report.schema.json), `report_format tables` the field tables of docs/report-format.md,
// and `report_format example` a report of a small synthetic model with every part present.
#include <attnspec/attnspec.hpp>
#include <attnspec/io/report_schema.hpp>
#include <cstdio>
#include <cstring>

namespace {

// Four heads of two layers with a planted low-rank structure: every figure a report can hold is computed.
attnspec::ModelReport example_report() {
  const Eigen::Index n = 48, d = 16, model_dim = 32;
  auto load = [&](const attnspec::HeadId& id) {
    std::srand(static_cast<unsigned>(1 + id.layer * 8 + id.first_query_head));
    const Eigen::MatrixXd basis = Eigen::MatrixXd::Random(n, 3), mix = Eigen::MatrixXd::Random(3, d);
    attnspec::HeadInput<double> input;
    input.queries = basis * mix + 0.01 * Eigen::MatrixXd::Random(n, d);
    input.keys = basis * Eigen::MatrixXd::Random(3, d) + 0.01 * Eigen::MatrixXd::Random(n, d);
    input.query_weight = Eigen::MatrixXd::Random(d, model_dim);
    input.key_weight = Eigen::MatrixXd::Random(d, model_dim);
    return input;
  };
  attnspec::PipelineOptions options;
  options.causal_field = true;
  options.stability_ranks = {1, 2};
  options.threads = 1;
  return attnspec::analyse_model(attnspec::model_heads(2, 2, 2), load, options);
}

}  // namespace

int main(int argc, char** argv) {
  const char* what = argc == 2 ? argv[1] : "";
  if (std::strcmp(what, "schema") == 0) {
    std::fputs(attnspec::io::report_json_schema().c_str(), stdout);
  } else if (std::strcmp(what, "tables") == 0) {
    std::fputs(attnspec::io::report_format_markdown().c_str(), stdout);
  } else if (std::strcmp(what, "example") == 0) {
    std::fputs(attnspec::io::json_report(example_report(), {{"model", "synthetic"}}).c_str(), stdout);
  } else {
    std::fprintf(stderr, "usage: report_format schema|tables|example\n");
    return 2;
  }
  return 0;
}
