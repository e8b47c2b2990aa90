// attnspec: the eigenvalues of a symmetric tridiagonal matrix by root-free QL sweeps (the Pal–Walker–Kahan variant
// of implicit-shift QL). The sweeps carry the squared off-diagonal, so a step costs a few multiplications and one
// division where a plane rotation costs a square root and two divisions: the Gram route's core needs the
// eigenvalues of CᵀC and nothing else, and at d = 64 the rotations were a tenth of a float field's time.
// Accuracy is the shifted QL's: every eigenvalue within a small multiple of ε·‖T‖ of the exact one.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace attnspec::detail {

// The eigenvalues of [a b; b c], the one of larger magnitude first; the smaller is formed as det / larger so that
// it keeps its digits when the two differ by many orders.
inline std::pair<double, double> symmetric_2x2_eigenvalues(double a, double b, double c) {
  const double sum = a + c, spread = std::hypot(a - c, 2 * b);
  if (sum == 0) return {spread / 2, -spread / 2};
  const double larger = sum > 0 ? (sum + spread) / 2 : (sum - spread) / 2;
  const double big = std::abs(a) > std::abs(c) ? a : c, small = std::abs(a) > std::abs(c) ? c : a;
  return {larger, (big / larger) * small - (b / larger) * b};
}

// Whether the squared coupling e(i) of entries i and i + 1 is negligible: the coupling itself at most ε times
// |d(i)| + |d(i + 1)| (relative deflation, as LAPACK's). Both the split into blocks and each sweep's bottom use it.
inline bool negligible_coupling(const Eigen::VectorXd& d, const Eigen::VectorXd& e, Eigen::Index i) {
  const double size = std::numeric_limits<double>::epsilon() * (std::abs(d(i)) + std::abs(d(i + 1)));
  return e(i) <= size * size;
}

// One unreduced block [first, last] of `diagonal` and the squared off-diagonal `coupling` (coupling(i) joins
// entries i and i + 1) reduced to its eigenvalues by QL sweeps, each ended by deflating at the top. False when
// `sweeps_left` runs out first.
inline bool ql_block_eigenvalues(Eigen::VectorXd& diagonal, Eigen::VectorXd& coupling, Eigen::Index first,
                                 Eigen::Index last, Eigen::Index& sweeps_left) {
  auto& d = diagonal;
  auto& e = coupling;
  Eigen::Index top = first;
  while (top <= last) {
    Eigen::Index bottom = top;
    while (bottom < last && !negligible_coupling(d, e, bottom)) ++bottom;
    if (bottom < last) e(bottom) = 0;
    if (bottom == top) {  // d(top) is an eigenvalue
      ++top;
      continue;
    }
    if (bottom == top + 1) {
      std::tie(d(top), d(top + 1)) = symmetric_2x2_eigenvalues(d(top), std::sqrt(e(top)), d(top + 1));
      e(top) = 0;
      top += 2;
      continue;
    }
    if (sweeps_left-- == 0) return false;
    // The shift: the eigenvalue of the top 2×2 closer to d(top) (Wilkinson's).
    const double root = std::sqrt(e(top));
    const double slope = (d(top + 1) - d(top)) / (2 * root);
    const double shift = d(top) - root / (slope + std::copysign(std::hypot(slope, 1.0), slope));
    // The sweep from the bottom up. γ is the rotated diagonal entry less the shift, p = γ²/c the square of what the
    // next rotation annihilates against: the rotation's c² and s² are p/(p + e) and e/(p + e).
    double c = 1, s = 0, gamma = d(bottom) - shift, p = gamma * gamma;
    for (Eigen::Index i = bottom - 1; i >= top; --i) {
      const double coupled = e(i), r = p + coupled;
      if (i != bottom - 1) e(i + 1) = s * r;
      const double previous_c = c, previous_gamma = gamma;
      c = p / r;
      s = coupled / r;
      gamma = c * (d(i) - shift) - s * previous_gamma;
      d(i + 1) = previous_gamma + (d(i) - gamma);
      p = c != 0 ? gamma * gamma / c : previous_c * coupled;
    }
    e(top) = s * p;
    d(top) = shift + gamma;
  }
  return true;
}

/// Replaces `diagonal` by the eigenvalues, ascending, of the symmetric tridiagonal matrix T with that diagonal and
/// off-diagonal `off` (its first n − 1 entries; overwritten). False when some eigenvalue has not converged after
/// 30·n sweeps.
/// The off-diagonal is squared, so T should be scaled to a norm near 1 (entries squared must neither overflow nor
/// underflow where they matter: an off-diagonal below 1e-154·‖T‖ counts as zero).
inline bool tridiagonal_eigenvalues(Eigen::VectorXd& diagonal, Eigen::VectorXd& off) {
  const Eigen::Index n = diagonal.size();
  if (n <= 1) return true;
  Eigen::VectorXd& coupling = off;
  coupling.conservativeResize(n - 1);
  coupling = coupling.array().square().matrix();
  Eigen::Index sweeps_left = 30 * n;
  for (Eigen::Index first = 0; first < n;) {
    // The next unreduced block [first, last].
    Eigen::Index last = first;
    while (last < n - 1 && !negligible_coupling(diagonal, coupling, last)) ++last;
    if (last < n - 1) coupling(last) = 0;
    // QL converges at the top first, which keeps digits best when the top entry is the smaller: a block whose small
    // end is at the bottom is turned upside down (the same eigenvalues).
    if (std::abs(diagonal(last)) < std::abs(diagonal(first))) {
      diagonal.segment(first, last - first + 1).reverseInPlace();
      coupling.segment(first, last - first).reverseInPlace();
    }
    if (!ql_block_eigenvalues(diagonal, coupling, first, last, sweeps_left)) return false;
    first = last + 1;
  }
  std::sort(diagonal.data(), diagonal.data() + n);
  return true;
}

}  // namespace attnspec::detail
