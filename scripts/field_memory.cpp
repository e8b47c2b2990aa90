// The memory and time of one field over many float tokens, with and without the field keeping its own copies of
// Q and K (FieldOptions::keep_factors), or of one float or double head through analyse_model with its stability
// pass (which keeps Q, K and the singular vectors). Prints the peak resident set, so run each setting in its own
// process: scripts/measure-field-memory.sh does.
//   field_memory keep|in-place|pipeline-float|pipeline-double TOKENS HEAD_DIM
#include <sys/resource.h>
#include <attnspec/logit_energy_field.hpp>
#include <attnspec/pipeline.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

double peak_resident_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

// σ_1 of one field of the caller's Q and K.
double field_sigma1(const std::string& setting, const Eigen::MatrixXf& q, const Eigen::MatrixXf& k) {
  attnspec::FieldOptions options;
  options.keep_factors = setting == "keep";
  options.threads = 2;
  return attnspec::LogitEnergyField<float>(q, k, options).singular_values()(0);
}

// σ_1 of one head through the pipeline (stability on, its defaults), Q and K made by the loader and handed over.
template <typename Scalar>
double pipeline_sigma1(Eigen::Index n, Eigen::Index d) {
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  const auto load = [n, d](const attnspec::HeadId&) {
    attnspec::HeadInput<Scalar> input;
    input.queries = Matrix::Random(n, d);
    input.keys = Matrix::Random(n, d);
    return input;
  };
  return attnspec::analyse_model<Scalar>(attnspec::model_heads(1, 1, 1), load).heads[0].field->singular_values[0];
}

}  // namespace

int main(int argc, char** argv) {
  const std::string setting = argc == 4 ? argv[1] : "";
  const bool pipeline = setting == "pipeline-float" || setting == "pipeline-double";
  if (setting != "keep" && setting != "in-place" && !pipeline) {
    std::fprintf(stderr, "usage: field_memory keep|in-place|pipeline-float|pipeline-double TOKENS HEAD_DIM\n");
    return 2;
  }
  const Eigen::Index n = std::atol(argv[2]), d = std::atol(argv[3]);
  const double bytes = setting == "pipeline-double" ? sizeof(double) : sizeof(float);
  const double inputs_mib = 2.0 * static_cast<double>(n * d) * bytes / (1024.0 * 1024.0);
  // "before": the peak before the analysis, the field's inputs made (the pipeline's loader makes them inside, and
  // its time includes theirs).
  double before = 0, sigma1 = 0;
  std::chrono::steady_clock::time_point started;
  if (pipeline) {
    before = peak_resident_mib();
    started = std::chrono::steady_clock::now();
    sigma1 = setting == "pipeline-float" ? pipeline_sigma1<float>(n, d) : pipeline_sigma1<double>(n, d);
  } else {
    const Eigen::MatrixXf q = Eigen::MatrixXf::Random(n, d), k = Eigen::MatrixXf::Random(n, d);
    before = peak_resident_mib();
    started = std::chrono::steady_clock::now();
    sigma1 = field_sigma1(setting, q, k);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("%-15s n = %ld, d = %ld: %.2f s, inputs %.0f MiB, peak %.0f MiB (%.0f MiB before), sigma_1 %.6g\n",
              setting.c_str(), static_cast<long>(n), static_cast<long>(d), seconds, inputs_mib, peak_resident_mib(),
              before, sigma1);
}
