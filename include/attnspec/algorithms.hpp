// attnspec: the algorithms a spectrum can be computed by, and the routes that report which one ran; printable with
// to_string and operator<<.
#pragma once

#include <ostream>

namespace attnspec {

/// How the field's singular values are computed.
enum class FieldAlgorithm {
  /// Backward stable (error <= ~1e-14·σ₁ in double): one Cholesky QR pass over Q or K_c where it is certified to
  /// within 1e-10 relative, CholeskyQR2 where that is as accurate as Householder QR, Householder QR elsewhere, then
  /// an SVD of the d×d core. In float without vectors it is the
  /// Gram route below (accumulated in double, so within ~1e-8·‖Q‖·‖K_c‖: the data's own rounding), falling back
  /// to CholeskyQR2 in float when a Gram matrix is not positive definite.
  accurate,
  /// From the d×d Gram matrices QᵀQ and K_cᵀK_c accumulated in double: cheaper, but σ_i has an absolute error of
  /// order ε·σ₁²/σ_i, so only the leading values (those above ~1e-4·σ₁) keep double-precision digits. No vectors.
  gram,
};

/// Which route produced the triangular factor of Q, K, W_Q or W_K: reported by the spectra for diagnostics.
enum class FactorRoute {
  cholesky_qr,   ///< one pass, R = chol(XᵀX): taken when certified to 1e-10 relative (well-conditioned factors)
  cholesky_qr2,  ///< two passes, taken when one cannot be certified and two are as accurate as Householder QR
  householder,   ///< the fallback for ill-conditioned, rank-deficient or wide factors, and when vectors are kept
  gram,          ///< FieldAlgorithm::gram: the Gram matrix alone, accumulated in double
};

inline const char* to_string(FieldAlgorithm algorithm) {
  switch (algorithm) {
    case FieldAlgorithm::accurate:
      return "accurate";
    case FieldAlgorithm::gram:
      return "gram";
  }
  return "unknown";
}

inline const char* to_string(FactorRoute route) {
  switch (route) {
    case FactorRoute::cholesky_qr:
      return "cholesky_qr";
    case FactorRoute::cholesky_qr2:
      return "cholesky_qr2";
    case FactorRoute::householder:
      return "householder";
    case FactorRoute::gram:
      return "gram";
  }
  return "unknown";
}

inline std::ostream& operator<<(std::ostream& out, FieldAlgorithm algorithm) { return out << to_string(algorithm); }
inline std::ostream& operator<<(std::ostream& out, FactorRoute route) { return out << to_string(route); }

}  // namespace attnspec
