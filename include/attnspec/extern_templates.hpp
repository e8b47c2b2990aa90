// attnspec: with ATTNSPEC_EXTERN_TEMPLATES defined, the float and double instantiations of attnspec's class
// templates are declared extern by their own headers (detail/extern_instantiation.hpp) and compiled once, in
// src/instantiations.cpp (the CMake target attnspec::instantiations, or that file added to any one target of a
// project), instead of in every translation unit that uses them. Without the macro nothing changes: the library
// stays header-only.
#pragma once

#include "causal_logit_field.hpp"
#include "interaction_matrix.hpp"
#include "logit_energy_field.hpp"
#include "pipeline.hpp"
#include "softmax_stability.hpp"
#include "spectrum_stats.hpp"

// What src/instantiations.cpp defines: every class template whose header ends in ATTNSPEC_EXTERN_FLOAT_AND_DOUBLE,
// and analyse_model.
#define ATTNSPEC_INSTANTIATIONS(Scalar)                      \
  template class attnspec::detail::TriangularFactor<Scalar>; \
  template class attnspec::detail::FactoredSvd<Scalar>;      \
  template class attnspec::LogitEnergyField<Scalar>;         \
  template class attnspec::InteractionMatrix<Scalar>;        \
  template class attnspec::CausalLogitEnergyField<Scalar>;   \
  template class attnspec::SoftmaxStabilityBound<Scalar>;    \
  template class attnspec::SpectrumStats<Scalar>;            \
  ATTNSPEC_ANALYSE_MODEL_INSTANTIATION(Scalar);
