// attnspec: a Gram matrix's lower triangle as a recursion onto Eigen's general matrix product. With
// -march=native (AVX-512 here) Eigen's symmetric rank update of a tall, thin X took as long as the full GEMM XᵀX,
// twice its flops; splitting the columns in halves puts all but a thin diagonal band of the work into GEMMs and
// takes 0.75 of the GEMM's time. Without native flags the two are equal (0.56–0.6 of the GEMM). Eigen's
// triangular solve, measured the same way, gained nothing from the same recursion and is used as it is.
#pragma once

#include <Eigen/Core>

namespace attnspec::detail {

// Below this width the diagonal blocks are left to a full GEMM: the best split measured for d = 64 and 128,
// double and float, with and without -march=native.
constexpr Eigen::Index kGramBaseWidth = 16;

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

}  // namespace attnspec::detail
