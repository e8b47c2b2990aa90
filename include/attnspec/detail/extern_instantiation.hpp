// attnspec: with ATTNSPEC_EXTERN_TEMPLATES defined, each class template's header declares its float and double
// instantiations extern right after defining it, so a translation unit leaves them to src/instantiations.cpp
// whichever attnspec headers it includes (extern_templates.hpp). Without the macro this expands to nothing.
#pragma once

#if defined(ATTNSPEC_EXTERN_TEMPLATES) && !defined(ATTNSPEC_DEFINING_INSTANTIATIONS)
#define ATTNSPEC_EXTERN_FLOAT_AND_DOUBLE(Class) \
  extern template class Class<float>;           \
  extern template class Class<double>;
#else
#define ATTNSPEC_EXTERN_FLOAT_AND_DOUBLE(Class)
#endif
