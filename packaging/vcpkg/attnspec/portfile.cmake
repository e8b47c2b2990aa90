# vcpkg overlay port of attnspec (header-only). It builds the checkout it lives in:
#   vcpkg install attnspec --overlay-ports=<attnspec>/packaging/vcpkg
get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

# Header-only: one configuration is enough, and nothing is compiled.
set(VCPKG_BUILD_TYPE release)

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        -DATTNSPEC_BUILD_TESTS=OFF
        -DATTNSPEC_BUILD_EXAMPLES=OFF
        -DATTNSPEC_BUILD_BENCHMARKS=OFF
        -DATTNSPEC_BUILD_PYTHON=OFF  # the port is the C++ headers; the Python package installs with CMake
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/attnspec)

# vcpkg keeps the licence as share/attnspec/copyright, not where the project installs it.
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/share/doc")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
