// attnspec: library version, kept equal to the CMake project version (a test checks it).
#pragma once

#define ATTNSPEC_VERSION_MAJOR 0
#define ATTNSPEC_VERSION_MINOR 2
#define ATTNSPEC_VERSION_PATCH 0
#define ATTNSPEC_VERSION_STRING "0.2.0"
