// attnspec: sharp per-row bounds on how much softmax moves when its logits move by δ with oscillation L.
#pragma once

#include <cmath>

#include "detail/checks.hpp"

namespace attnspec {

/// TV(softmax x, softmax(x + δ)) <= tanh(L/4) for L = max δ − min δ; attained by two keys (docs/stability.md).
inline double tv_bound(double oscillation) {
  if (!(oscillation >= 0)) detail::throw_invalid_argument("tv_bound", "oscillation = ", oscillation, " must be >= 0");
  return std::tanh(oscillation / 4);
}

/// KL in either direction <= φ(L) = ln((e^L − 1)/L) − 1 + L/(e^L − 1) <= min(L²/8, L). Below L = 0.05 the
/// closed form cancels catastrophically, so its series is used there.
inline double kl_bound(double oscillation) {
  const double l = oscillation;
  if (!(l >= 0)) detail::throw_invalid_argument("kl_bound", "oscillation = ", l, " must be >= 0");
  if (l < 0.05) {
    const double l2 = l * l;
    return l2 / 8 - l2 * l2 / 576 + l2 * l2 * l2 / 25920;
  }
  if (std::isinf(l)) return l;
  // ln((e^L − 1)/L) = L + ln(1 − e^−L) − ln L, which does not overflow for large L.
  return l + std::log1p(-std::exp(-l)) - std::log(l) - 1 + l / std::expm1(l);
}

/// ‖a·V − a'·V‖₂ <= TV(a, a')·diam{v_j}: the attention output moves at most TV times the value set's diameter.
inline double output_bound(double total_variation, double value_diameter) { return total_variation * value_diameter; }

}  // namespace attnspec
