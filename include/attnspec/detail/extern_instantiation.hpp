// attnspec: with ATTNSPEC_EXTERN_TEMPLATES defined, each class template's header (and pipeline.hpp, for
// analyse_model) declares its float and double instantiations extern right after defining them, so a translation
// unit leaves them to src/instantiations.cpp whichever attnspec headers it includes (extern_templates.hpp).
// Without the macro these expand to nothing.
#pragma once

#if defined(ATTNSPEC_EXTERN_TEMPLATES) && !defined(ATTNSPEC_DEFINING_INSTANTIATIONS)
#define ATTNSPEC_EXTERN_FLOAT_AND_DOUBLE(Class) \
  extern template class Class<float>;           \
  extern template class Class<double>;
/// For a function template: `Instantiation(Scalar)` spells the explicit instantiation for one Scalar.
#define ATTNSPEC_EXTERN_FLOAT_AND_DOUBLE_OF(Instantiation) \
  extern Instantiation(float);                             \
  extern Instantiation(double);
#else
#define ATTNSPEC_EXTERN_FLOAT_AND_DOUBLE(Class)
#define ATTNSPEC_EXTERN_FLOAT_AND_DOUBLE_OF(Instantiation)
#endif
