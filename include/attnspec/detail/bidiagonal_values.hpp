// attnspec: the singular values (and, when asked, vectors) of an upper bidiagonal matrix — the last step of the
// field's and M's spectra — by implicit-shift QR sweeps on the bidiagonal itself (Golub–Kahan, shifted as in
// LAPACK's bidiagonal QR). Vectors accumulate the sweeps' plane rotations, O(q²) work per sweep.
// Deflation is absolute (an entry at most ε·max|entry| counts as zero), which makes the result backward stable:
// every value within a small multiple of ε·σ₁ of the exact one, the accuracy the kernel promises. Working on the
// q×q bidiagonal costs about a third of the symmetric eigensolver on the 2q×2q Golub–Kahan tridiagonal.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <vector>

namespace attnspec::detail {

// The rotation [c s; −s c] taking (f, g) to (r, 0).
inline void plane_rotation(double f, double g, double& c, double& s, double& r) {
  if (g == 0) {
    c = 1, s = 0, r = f;
  } else if (f == 0) {
    c = 0, s = 1, r = g;
  } else {
    r = std::sqrt(f * f + g * g);
    if (!(r > 0 && std::isfinite(r))) r = std::hypot(f, g);  // squares under- or overflowed
    c = f / r, s = g / r;
  }
}

// The smaller singular value of [f g; 0 h], without under- or overflow (LAPACK's dlas2).
inline double smaller_singular_value_2x2(double f, double g, double h) {
  const double fa = std::abs(f), ga = std::abs(g), ha = std::abs(h);
  const double low = std::min(fa, ha), high = std::max(fa, ha);
  if (low == 0) return 0;
  if (ga < high) {
    const double as = 1 + low / high, at = (high - low) / high, au = (ga / high) * (ga / high);
    return low * (2 / (std::sqrt(as * as + au) + std::sqrt(at * at + au)));
  }
  const double au = high / ga;
  if (au == 0) return (low * high) / ga;
  const double as = 1 + low / high, at = (high - low) / high;
  return 2 * low * au / (std::sqrt(1 + (as * au) * (as * au)) + std::sqrt(1 + (at * au) * (at * au)));
}

// Columns i and i + 1 of `vectors` (when given) turned by the plane rotation [c −s; s c] the sweep applied to B.
inline void rotate_columns(Eigen::MatrixXd* vectors, Eigen::Index i, double c, double s) {
  if (vectors == nullptr) return;
  auto first = vectors->col(i), second = vectors->col(i + 1);
  for (Eigen::Index row = 0; row < vectors->rows(); ++row) {
    const double x = first(row), y = second(row);
    first(row) = c * x + s * y;
    second(row) = c * y - s * x;
  }
}

/// Replaces `diagonal` by the singular values, descending, of the upper bidiagonal matrix B with that diagonal and
/// superdiagonal `upper` (its first diagonal.size() − 1 entries are used; they are overwritten). With `left` and
/// `right` (each with q columns, usually the q×q identity on entry) they are multiplied on the right by B's left
/// and right singular vectors, in the order of the values: B = left·diag(values)·rightᵀ when both started as the
/// identity. False when the sweeps did not converge within 30·q² rotations (not seen in practice; the caller
/// reports it).
inline bool bidiagonal_singular_values(Eigen::VectorXd& diagonal, Eigen::VectorXd& upper,
                                       Eigen::MatrixXd* left = nullptr, Eigen::MatrixXd* right = nullptr) {
  const Eigen::Index q = diagonal.size();
  Eigen::VectorXd& d = diagonal;
  Eigen::VectorXd& e = upper;
  double largest = q > 0 ? d.cwiseAbs().maxCoeff() : 0;
  if (q > 1) largest = std::max(largest, e.head(q - 1).cwiseAbs().maxCoeff());
  const double threshold = std::numeric_limits<double>::epsilon() * largest;
  double budget = 30.0 * static_cast<double>(q) * static_cast<double>(q);
  Eigen::Index bottom = q - 1;  // d[0..bottom] still holds an unreduced part
  while (bottom > 0) {
    if (std::abs(e(bottom - 1)) <= threshold) {
      --bottom;
      continue;
    }
    // The unreduced block top..bottom: every superdiagonal entry in it above the threshold.
    Eigen::Index top = bottom - 1;
    while (top > 0 && std::abs(e(top - 1)) > threshold) --top;
    bool zero_diagonal = false;
    for (Eigen::Index i = top; i <= bottom; ++i) {
      if (std::abs(d(i)) <= threshold) d(i) = 0, zero_diagonal = true;
    }
    // The shift: the trailing 2×2's smaller singular value, or none where it would not help (a zero diagonal
    // entry deflates in one unshifted sweep; a shift far below d[top] changes nothing).
    double shift = 0;
    if (!zero_diagonal) {
      shift = smaller_singular_value_2x2(d(bottom - 1), e(bottom - 1), d(bottom));
      const double ratio = shift / std::abs(d(top));
      if (ratio * ratio < std::numeric_limits<double>::epsilon()) shift = 0;
    }
    // One implicit QR sweep, chasing the bulge from top to bottom.
    double f = (std::abs(d(top)) - shift) * ((d(top) >= 0 ? 1.0 : -1.0) + (shift == 0 ? 0.0 : shift / d(top)));
    double g = e(top);
    for (Eigen::Index i = top; i < bottom; ++i) {
      double c, s, r;
      plane_rotation(f, g, c, s, r);  // on columns i, i + 1 of B: B·G, so right·G
      rotate_columns(right, i, c, s);
      if (i > top) e(i - 1) = r;
      f = c * d(i) + s * e(i);
      e(i) = c * e(i) - s * d(i);
      g = s * d(i + 1);
      d(i + 1) = c * d(i + 1);
      plane_rotation(f, g, c, s, r);  // on rows i, i + 1: H·B, so left·Hᵀ
      rotate_columns(left, i, c, s);
      d(i) = r;
      f = c * e(i) + s * d(i + 1);
      d(i + 1) = c * d(i + 1) - s * e(i);
      if (i + 1 < bottom) {
        g = s * e(i + 1);
        e(i + 1) = c * e(i + 1);
      }
    }
    e(bottom - 1) = f;
    budget -= static_cast<double>(bottom - top);
    if (budget < 0) return false;
  }
  if (left == nullptr && right == nullptr) {
    d = d.cwiseAbs();
    std::sort(d.data(), d.data() + q, std::greater<double>());
    return true;
  }
  // A negative value's sign goes into its right vector; then values and vectors in descending order.
  for (Eigen::Index i = 0; i < q; ++i) {
    if (d(i) < 0) {
      d(i) = -d(i);
      if (right) right->col(i) *= -1;
    }
  }
  std::vector<Eigen::Index> order(static_cast<std::size_t>(q));
  std::iota(order.begin(), order.end(), Eigen::Index{0});
  std::stable_sort(order.begin(), order.end(), [&d](Eigen::Index a, Eigen::Index b) { return d(a) > d(b); });
  const Eigen::VectorXd unsorted = d;
  const Eigen::MatrixXd left_unsorted = left ? *left : Eigen::MatrixXd(),
                        right_unsorted = right ? *right : Eigen::MatrixXd();
  for (Eigen::Index i = 0; i < q; ++i) {
    const Eigen::Index from = order[static_cast<std::size_t>(i)];
    d(i) = unsorted(from);
    if (left) left->col(i) = left_unsorted.col(from);
    if (right) right->col(i) = right_unsorted.col(from);
  }
  return true;
}

}  // namespace attnspec::detail
