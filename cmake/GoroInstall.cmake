# Installing goro as a library: headers, the static (or, with
# BUILD_SHARED_LIBS, shared) libraries, a CMake package (goroConfig.cmake)
# giving goro::runtime, goro::netpoll, goro::pg and goro::http, one pkg-config
# file per library, the `goro` binary, the docs — and CPack's Debian package
# of all of it.  Tests, benchmarks and fuzzers are never installed.
#
#   cmake --install build --prefix P
#   find_package(goro CONFIG REQUIRED)   # with -DCMAKE_PREFIX_PATH=P
#   pkg-config --cflags --libs --static goro-http   # PKG_CONFIG_PATH=P/lib/pkgconfig
#   cd build && cpack -G DEB             # goro_<version>_<arch>.deb, prefix /usr
include(CMakePackageConfigHelpers)

set(GORO_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/goro)

# goro_sanitize is exported (as goro::sanitize), not BUILD_INTERFACE-only:
# it is empty in an ordinary build, and in a sanitizer build the libraries
# are instrumented and cannot link without the same -fsanitize flag, so a
# consumer must get it.  goro_warnings stays BUILD_INTERFACE (each target's
# link line): our warnings and -Werror are no business of a consumer's.
set_target_properties(goro_sanitize PROPERTIES EXPORT_NAME sanitize)
install(TARGETS goro_runtime goro_netpoll goro_pg goro_http goro_llhttp goro_sanitize
  EXPORT goroTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS goro RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# Shared: the installed binary and libraries find goro's other libraries
# wherever the prefix is.  Each library needs its own $ORIGIN, since a
# RUNPATH applies only to the object's own dependencies.
if(BUILD_SHARED_LIBS)
  file(RELATIVE_PATH _goro_bin_to_lib /_/${CMAKE_INSTALL_BINDIR} /_/${CMAKE_INSTALL_LIBDIR})
  set_target_properties(goro PROPERTIES INSTALL_RPATH "$ORIGIN/${_goro_bin_to_lib}")
  set_target_properties(goro_runtime goro_netpoll goro_pg goro_http PROPERTIES INSTALL_RPATH "$ORIGIN")
endif()
foreach(dir runtime netpoll db server)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endforeach()
# goro/http/parser.hpp includes <llhttp.h>: the header of the llhttp we
# compiled, alone in its directory so that only this one name is added to a
# consumer's include path.  Its licence goes with it (the code is in
# libgoro_llhttp.a).
install(FILES ${GORO_LLHTTP_INCLUDE_DIR}/llhttp.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/goro/llhttp)
if(EXISTS /usr/share/doc/node-llhttp/copyright)
  install(FILES /usr/share/doc/node-llhttp/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME llhttp.copyright)
endif()
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
  USE_SOURCE_PERMISSIONS)

# The libraries found through pkg-config (no CMake package of their own):
# the imported targets PkgConfig::<PREFIX> the static libraries carry as link
# dependencies, recreated by goroConfig.cmake.  PREFIX=module pairs.
set(GORO_PKG_DEPS URING=liburing PQ=libpq DW=libdw)

install(EXPORT goroTargets NAMESPACE goro:: FILE goroTargets.cmake DESTINATION ${GORO_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/goroConfig.cmake.in
  ${PROJECT_BINARY_DIR}/goroConfig.cmake INSTALL_DESTINATION ${GORO_CMAKE_DIR})
# SameMajorVersion: a caller asking for 0.1 gets any 0.y >= 0.1 but never
# 1.0, whose API may differ; AnyNewerVersion would hand it any later major.
# (0.x promises nothing between minors either: pin one with EXACT.)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/goroConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/goroConfig.cmake ${PROJECT_BINARY_DIR}/goroConfigVersion.cmake
  DESTINATION ${GORO_CMAKE_DIR})

# pkg-config: one file per library.  prefix is computed from the .pc file's
# own place (${pcfiledir}), so the files stay right for --prefix P at install
# time and for the package's /usr.  The libraries are static by default:
# link with `pkg-config --static`, which adds Libs.private and the
# Requires.private packages' libraries.
file(RELATIVE_PATH _goro_pc_up /_/${CMAKE_INSTALL_LIBDIR}/pkgconfig /_)
function(goro_pkgconfig name description)
  cmake_parse_arguments(P "" "" "REQUIRES;REQUIRES_PRIVATE;LIBS;LIBS_PRIVATE;CFLAGS" ${ARGN})
  list(JOIN P_REQUIRES " " requires)
  list(JOIN P_REQUIRES_PRIVATE " " requires_private)
  list(JOIN P_LIBS " " libs)
  list(JOIN P_LIBS_PRIVATE " " libs_private)
  list(JOIN P_CFLAGS " " cflags)
  set(pc "prefix=\${pcfiledir}/${_goro_pc_up}
libdir=\${prefix}/${CMAKE_INSTALL_LIBDIR}
includedir=\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}

Name: ${name}
Description: ${description}
Version: ${PROJECT_VERSION}
Requires: ${requires}
Requires.private: ${requires_private}
Cflags: -I\${includedir} ${cflags}
Libs: -L\${libdir} ${libs}
Libs.private: ${libs_private}
")
  file(WRITE ${PROJECT_BINARY_DIR}/pkgconfig/${name}.pc "${pc}")
  install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/${name}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endfunction()
goro_pkgconfig(goro-runtime "goro's runtime: goroutines M:N over worker threads, channels, select, timers"
  REQUIRES_PRIVATE libdw CFLAGS -fno-omit-frame-pointer LIBS -lgoro_runtime LIBS_PRIVATE -pthread)
goro_pkgconfig(goro-netpoll "goro's netpoller: TCP listener, connections and files that park goroutines (io_uring, epoll)"
  REQUIRES goro-runtime REQUIRES_PRIVATE liburing LIBS -lgoro_netpoll)
# libpq by its -l alone, not Requires.private: under --static pkg-config
# adds libpq's own static closure, and Debian's libpq.pc names libraries
# (pgcommon, pgport, ldap, gssapi_krb5) it ships no static archive or
# link-time .so of.  libgoro_pg.a needs only the shared libpq.
goro_pkgconfig(goro-pg "goro's PostgreSQL client (libpq) whose waits park goroutines"
  REQUIRES goro-netpoll LIBS -lgoro_pg LIBS_PRIVATE -lpq)
# fmt is public (goro/http/response.hpp uses it), spdlog only inside.
goro_pkgconfig(goro-http "goro's HTTP/1.1 server: router, handlers, goroutine/thread/pool execution models"
  REQUIRES goro-pg goro-netpoll fmt REQUIRES_PRIVATE spdlog
  CFLAGS -I\${includedir}/goro/llhttp LIBS -lgoro_http LIBS_PRIVATE -lgoro_llhttp)

# ---- the Debian package ------------------------------------------------------
# Depends: what a user needs to build against the headers and link the
# static libraries (each -dev package pulls its shared library, which the
# `goro` binary also needs).  llhttp is not among them: its header and code
# ship inside this package.
set(GORO_DEB_MAINTAINER "goro developers <goro-dev@example.org>"
  CACHE STRING "Maintainer field of the Debian package")
set(CPACK_PACKAGE_NAME goro)
set(CPACK_PACKAGE_VENDOR goro)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Go-style goroutine runtime and HTTP/1.1 server for C++20")
set(CPACK_PACKAGE_DESCRIPTION "Stackful goroutines scheduled M:N over worker threads, channels and
select, an io_uring/epoll netpoller, a PostgreSQL client and an HTTP/1.1
server, as static libraries with headers, a CMake package (goro::runtime,
goro::netpoll, goro::pg, goro::http), pkg-config files, the goro server
binary and examples in /usr/share/doc/goro/examples.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Not stripped: the goroutine dump (/debug/goroutines?stacks=1, SIGQUIT)
# symbolizes goro's stacks from the binary's own symbols and debug info.
set(CPACK_STRIP_FILES OFF)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${GORO_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libfmt-dev, libspdlog-dev, liburing-dev, libpq-dev, libdw-dev, pkg-config")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "cmake, g++")
include(CPack)
