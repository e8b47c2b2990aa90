// attnspec: with ATTNSPEC_EXTERN_TEMPLATES defined, the float and double instantiations of attnspec's classes are
// declared here and compiled once, in src/instantiations.cpp (the CMake target attnspec::instantiations, or that
// file added to any one target of a project), instead of in every translation unit that uses them. Without the
// macro nothing changes: the library stays header-only.
#pragma once

#ifdef ATTNSPEC_EXTERN_TEMPLATES

#include "causal_logit_field.hpp"
#include "interaction_matrix.hpp"
#include "logit_energy_field.hpp"
#include "softmax_stability.hpp"
#include "spectrum_stats.hpp"

// The list src/instantiations.cpp expands with ATTNSPEC_INSTANTIATE = nothing; here, with `extern`.
#define ATTNSPEC_INSTANTIATIONS(prefix, Scalar)                     \
  prefix template class attnspec::detail::TriangularFactor<Scalar>; \
  prefix template class attnspec::detail::FactoredSvd<Scalar>;      \
  prefix template class attnspec::LogitEnergyField<Scalar>;         \
  prefix template class attnspec::InteractionMatrix<Scalar>;        \
  prefix template class attnspec::CausalLogitEnergyField<Scalar>;   \
  prefix template class attnspec::SoftmaxStabilityBound<Scalar>;    \
  prefix template class attnspec::SpectrumStats<Scalar>;

#ifndef ATTNSPEC_DEFINING_INSTANTIATIONS
ATTNSPEC_INSTANTIATIONS(extern, float)
ATTNSPEC_INSTANTIATIONS(extern, double)
#endif

#endif
