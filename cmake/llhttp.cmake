# llhttp from Debian's node-llhttp package: it ships the generated C sources
# (not a library), so we compile them into a small static target.
set(GORO_LLHTTP_SRC_DIR /usr/share/llhttp CACHE PATH "llhttp C sources (node-llhttp)")
set(GORO_LLHTTP_INCLUDE_DIR /usr/share/include/llhttp CACHE PATH "llhttp.h (node-llhttp)")
foreach(f api.c http.c llhttp.c)
  if(NOT EXISTS ${GORO_LLHTTP_SRC_DIR}/${f})
    message(FATAL_ERROR "llhttp source ${GORO_LLHTTP_SRC_DIR}/${f} not found: install node-llhttp (scripts/setup does)")
  endif()
endforeach()
add_library(goro_llhttp STATIC
  ${GORO_LLHTTP_SRC_DIR}/api.c ${GORO_LLHTTP_SRC_DIR}/http.c ${GORO_LLHTTP_SRC_DIR}/llhttp.c)
set_target_properties(goro_llhttp PROPERTIES C_STANDARD 99 POSITION_INDEPENDENT_CODE ON)
# Installed, llhttp.h goes with the library built from it (goro/llhttp/ in
# the include directory, see GoroInstall.cmake): goro::http's parser holds an
# llhttp_t by value, so a header from another llhttp version would disagree
# with the compiled code about its layout.
target_include_directories(goro_llhttp SYSTEM PUBLIC $<BUILD_INTERFACE:${GORO_LLHTTP_INCLUDE_DIR}>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/goro/llhttp>)
target_compile_options(goro_llhttp PRIVATE -w)
target_link_libraries(goro_llhttp PRIVATE goro_sanitize)
add_library(llhttp::llhttp ALIAS goro_llhttp)
set_target_properties(goro_llhttp PROPERTIES EXPORT_NAME llhttp)
