# ctest driver (cmake -P): `cmake --install` puts the Python package where ATTNSPEC_PYTHON_INSTALL_DIR says, and it
# imports and runs from there, away from the build tree.
#   -DBUILD=<attnspec build> -DWORK=<scratch directory> -DPYTHON=<interpreter> -DPACKAGE_DIR=<install dir, relative>
cmake_minimum_required(VERSION 3.16)
file(REMOVE_RECURSE ${WORK})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD} --prefix ${WORK}/stage --component python
                RESULT_VARIABLE failed OUTPUT_QUIET)
if(failed)
  message(FATAL_ERROR "cmake --install --component python failed")
endif()
file(MAKE_DIRECTORY ${WORK}/elsewhere)
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env PYTHONPATH=${WORK}/stage/${PACKAGE_DIR} ${PYTHON} -c
          "import attnspec, numpy; assert attnspec.__file__.startswith('${WORK}/stage'), attnspec.__file__; \
print(attnspec.SpectrumStats(attnspec.LogitEnergyField(numpy.eye(4), numpy.eye(4)).singular_values).rank_at(0.9))"
  WORKING_DIRECTORY ${WORK}/elsewhere RESULT_VARIABLE failed OUTPUT_VARIABLE output ERROR_VARIABLE errors)
if(failed OR NOT output STREQUAL "3\n")
  message(FATAL_ERROR "the installed package did not run: ${output}${errors}")
endif()
message(STATUS "the installed package imports from ${WORK}/stage/${PACKAGE_DIR} and runs")
