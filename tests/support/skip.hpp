// skip.hpp — for a test process that cannot test what it was asked to (too
// few descriptors, a kernel without io_uring, a mode the case does not
// apply to).  doctest 2.4 has no skip at run time, so the whole process
// says why and exits 77, which CTest reports as "Skipped"
// (SKIP_RETURN_CODE, set by goro_add_test), never as a pass.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace goro::test {

[[noreturn]] inline void skip_process(const std::string& why) {
  std::printf("SKIPPED: %s\n", why.c_str());
  std::fflush(nullptr);
  std::_Exit(77);
}

}  // namespace goro::test
