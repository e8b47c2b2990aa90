// attnspec: spectral analysis of transformer attention heads. The umbrella header.
#pragma once

#include "algorithms.hpp"
#include "causal_logit_field.hpp"
#include "errors.hpp"
#include "head_slicing.hpp"
#include "host_tensor.hpp"
#include "interaction_matrix.hpp"
#include "logit_energy_field.hpp"
#include "pipeline.hpp"
#include "softmax_lemmas.hpp"
#include "softmax_stability.hpp"
#include "spectrum_stats.hpp"
#include "version.hpp"
