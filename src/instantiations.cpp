// attnspec's float and double instantiations, compiled once for every translation unit that defines
// ATTNSPEC_EXTERN_TEMPLATES (include/attnspec/extern_templates.hpp).
#define ATTNSPEC_DEFINING_INSTANTIATIONS
#include <attnspec/extern_templates.hpp>

ATTNSPEC_INSTANTIATIONS(float)
ATTNSPEC_INSTANTIATIONS(double)
