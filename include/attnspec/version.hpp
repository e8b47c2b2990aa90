// attnspec: library version, kept equal to the CMake project version (a test checks it).
#pragma once

#define ATTNSPEC_VERSION_MAJOR 0
#define ATTNSPEC_VERSION_MINOR 1
#define ATTNSPEC_VERSION_PATCH 0
#define ATTNSPEC_VERSION_STRING "0.1.0"
