# ctest driver (cmake -P) for tests/consumer: builds and runs the downstream project one way.
#   -DMODE=find_package|add_subdirectory|fetchcontent -DSOURCE=<attnspec source> -DBUILD=<attnspec build>
#   -DWORK=<scratch directory>
# For find_package it first installs attnspec to WORK/stage and checks the tree holds only headers, CMake
# package files, the optional instantiations source, the licence and (when built) the Python package; it also
# builds the program against attnspec::instantiations.
cmake_minimum_required(VERSION 3.16)
file(REMOVE_RECURSE ${WORK})
set(prefix_args)
if(MODE STREQUAL "find_package")
  execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD} --prefix ${WORK}/stage RESULT_VARIABLE failed OUTPUT_QUIET)
  if(failed)
    message(FATAL_ERROR "cmake --install failed")
  endif()
  file(GLOB_RECURSE installed RELATIVE ${WORK}/stage ${WORK}/stage/*)
  foreach(file IN LISTS installed)
    if(NOT file MATCHES "^include/attnspec/.*\\.hpp$" AND NOT file MATCHES "^share/cmake/attnspec/attnspec[A-Za-z-]*\\.cmake$"
       AND NOT file STREQUAL "share/cmake/attnspec/instantiations.cpp" AND NOT file STREQUAL "share/doc/attnspec/LICENSE"
       AND NOT file MATCHES "^lib[^/]*/python3[.0-9]*/site-packages/attnspec/[^/]+$")
      message(FATAL_ERROR "the installed tree holds ${file}, which is not a header, a package file or the licence")
    endif()
  endforeach()
  list(LENGTH installed count)
  message(STATUS "installed ${count} files, all headers or package files")
  set(prefix_args -DCMAKE_PREFIX_PATH=${WORK}/stage)
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE}/tests/consumer -B ${WORK}/build -DATTNSPEC_CONSUME_BY=${MODE}
                        -DATTNSPEC_SOURCE=${SOURCE} -DCMAKE_BUILD_TYPE=Release ${prefix_args}
                RESULT_VARIABLE failed)
if(failed)
  message(FATAL_ERROR "configuring the consumer (${MODE}) failed")
endif()
# Builds one of the consumer's programs and runs it; `what` says which in the failure.
function(build_and_run target what)
  execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK}/build --target ${target} RESULT_VARIABLE failed)
  if(failed)
    message(FATAL_ERROR "building ${what} failed")
  endif()
  execute_process(COMMAND ${WORK}/build/${target} RESULT_VARIABLE failed)
  if(failed)
    message(FATAL_ERROR "${what} ran but failed")
  endif()
endfunction()

build_and_run(consumer "the consumer (${MODE})")
if(MODE STREQUAL "find_package")
  build_and_run(consumer_instantiated "the consumer against attnspec::instantiations")
endif()
