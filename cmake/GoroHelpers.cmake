# Build flags shared by every goro target, without touching global flags.
#
#   goro_warnings  — PRIVATE on each target: warnings (and -Werror with GORO_WERROR)
#   goro_sanitize  — PUBLIC through goro::runtime, so everything that links the
#                    runtime is instrumented the same way (mixing is unsafe for
#                    the fiber annotations)

add_library(goro_warnings INTERFACE)
target_compile_options(goro_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Wno-missing-field-initializers
  $<$<BOOL:${GORO_WERROR}>:-Werror>)

add_library(goro_sanitize INTERFACE)
if(GORO_SANITIZE)
  if(NOT GORO_SANITIZE MATCHES "^(address|thread|undefined)$")
    message(FATAL_ERROR "GORO_SANITIZE must be address, thread or undefined (got '${GORO_SANITIZE}')")
  endif()
  target_compile_options(goro_sanitize INTERFACE -fsanitize=${GORO_SANITIZE} -fno-omit-frame-pointer -g)
  target_link_options(goro_sanitize INTERFACE -fsanitize=${GORO_SANITIZE})
  target_compile_definitions(goro_sanitize INTERFACE GORO_SANITIZE_$<UPPER_CASE:${GORO_SANITIZE}>=1)
endif()

# goro_add_test(NAME name SOURCES a.cpp ... LIBS lib ... [ARGS ...] [LABELS ...]
#               [TIMEOUT s] [ENV K=V ...])
# One doctest executable registered with CTest.  Exit code 77 means "skipped"
# (a kernel feature is missing); the test prints why.
function(goro_add_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT;TARGET" "SOURCES;LIBS;ARGS;LABELS;ENV" ${ARGN})
  if(NOT T_TARGET)
    set(T_TARGET ${T_NAME})
  endif()
  if(NOT TARGET ${T_TARGET})
    add_executable(${T_TARGET} ${T_SOURCES})
    target_link_libraries(${T_TARGET} PRIVATE goro_test_main ${T_LIBS} goro_warnings)
  endif()
  add_test(NAME ${T_NAME} COMMAND ${T_TARGET} ${T_ARGS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT ${T_TIMEOUT})
  if(T_LABELS)
    set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}")
  endif()
  if(T_ENV)
    set_tests_properties(${T_NAME} PROPERTIES ENVIRONMENT "${T_ENV}")
  endif()
endfunction()

# With GORO_FUZZ every goro target gets libFuzzer's coverage instrumentation;
# only the fuzz executables link libFuzzer's main.
if(GORO_FUZZ)
  target_compile_options(goro_sanitize INTERFACE -fsanitize=fuzzer-no-link)
endif()
