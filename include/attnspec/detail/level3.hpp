// attnspec: the two level-3 kernels of the triangular factor — a Gram matrix's lower triangle and a triangular
// solve from the right — written as recursions onto Eigen's general matrix product. Eigen's own symmetric rank
// update and triangular solve run at a half to a third of its GEMM speed on tall, thin operands (more so with
// -march=native); splitting the columns in halves puts all but a thin diagonal band of the work into GEMMs.
#pragma once

#include <Eigen/Core>

namespace attnspec::detail {

// Below this width the diagonal blocks are left to a full GEMM (the Gram) or to Eigen's solver (the solve): about
// the best split on the machines measured, for d = 64 and 128, double and float, with and without -march=native.
constexpr Eigen::Index kGramBaseWidth = 16;
constexpr Eigen::Index kSolveBaseWidth = 16;

/// Adds xᵀx to the lower triangle of `gram` (d×d for x of n×d); the strictly upper triangle is written with
/// values that mean nothing. Half the flops of the full product, nearly all of them in GEMMs.
template <typename Scalar>
void add_gram_lower(const Eigen::Ref<const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>>& x,
                    Eigen::Ref<Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>> gram) {
  const Eigen::Index width = x.cols();
  if (width <= kGramBaseWidth) {
    gram.noalias() += x.transpose() * x;
    return;
  }
  const Eigen::Index half = width / 2, rest = width - half;
  add_gram_lower<Scalar>(x.leftCols(half), gram.topLeftCorner(half, half));
  gram.bottomLeftCorner(rest, half).noalias() += x.rightCols(rest).transpose() * x.leftCols(half);
  add_gram_lower<Scalar>(x.rightCols(rest), gram.bottomRightCorner(rest, rest));
}

/// x ← x·r⁻¹ for the upper-triangular r (its strictly lower part is not read): the same backward-stable column
/// sweep as a triangular solve, with the updates between halves done as GEMMs.
template <typename Scalar>
void solve_upper_on_right(Eigen::Ref<Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>> x,
                          const Eigen::Ref<const Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>>& r) {
  const Eigen::Index width = x.cols();
  if (width <= kSolveBaseWidth) {
    r.template triangularView<Eigen::Upper>().template solveInPlace<Eigen::OnTheRight>(x);
    return;
  }
  const Eigen::Index half = width / 2, rest = width - half;
  solve_upper_on_right<Scalar>(x.leftCols(half), r.topLeftCorner(half, half));
  x.rightCols(rest).noalias() -= x.leftCols(half) * r.topRightCorner(half, rest);
  solve_upper_on_right<Scalar>(x.rightCols(rest), r.bottomRightCorner(rest, rest));
}

}  // namespace attnspec::detail
