# ctest driver (cmake -P) for one libFuzzer target: fuzz a scratch copy of the seed corpus for SECONDS.
#   -DFUZZER=<binary> -DSEEDS=<seed corpus> -DWORK=<scratch directory> -DSECONDS=<n>
# Fails when libFuzzer reports a crash, a leak, a timeout or a sanitizer error (any non-zero exit). Prints the
# run's figures: libFuzzer's final statistics and its last status line (coverage, corpus size, peak memory).
cmake_minimum_required(VERSION 3.16)
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/corpus ${WORK}/artifacts)
execute_process(COMMAND ${FUZZER} -max_total_time=${SECONDS} -timeout=10 -rss_limit_mb=2048 -max_len=4194304
                        -artifact_prefix=${WORK}/artifacts/ -print_final_stats=1 ${WORK}/corpus ${SEEDS}
                RESULT_VARIABLE failed ERROR_VARIABLE log)
if(failed)
  message(FATAL_ERROR "${FUZZER} found a problem (exit ${failed}); reproducer in ${WORK}/artifacts\n${log}")
endif()
get_filename_component(target ${FUZZER} NAME)
string(REGEX MATCHALL "#[0-9]+[\t ]+DONE[^\n]*" done_line "${log}")
string(REGEX MATCHALL "stat::[a-z_]+: *[0-9]+" statistics "${log}")
string(REPLACE ";" "\n  " statistics "${statistics}")
message(STATUS "${target}, ${SECONDS} s, no finding\n  ${done_line}\n  ${statistics}")
