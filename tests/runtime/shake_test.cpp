// Compiled into every runtime test binary: the scheduler is shaken exactly
// when the ctest entry says so (GORO_SHAKE=1 in the `.shake` entries), in
// every build type, so a `.shake` entry and its plain twin can never
// silently be the same run.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "goro/runtime.hpp"
#include "goro/stats.hpp"

TEST_CASE("shake: on exactly when GORO_SHAKE (or Options::shake) says so") {
  // The runtime's rule (runtime.hpp): GORO_SHAKE set and not "0" is on.
  const char* env = std::getenv("GORO_SHAKE");
  const bool env_on = env && *env && std::strcmp(env, "0") != 0;
  bool seen = !env_on;
  goro::run([&] { seen = goro::stats().shake; }, {.procs = 1});
  CHECK(seen == env_on);
  const std::string what = std::string("GORO_SHAKE=") + (env ? env : "(unset)") + ": shake " + (seen ? "on" : "off");
  MESSAGE(what);

  if (!env || !*env) {  // no override: the option decides
    bool on = false;
    goro::run([&] { on = goro::stats().shake; }, {.procs = 1, .shake = true});
    CHECK(on);
  }
}
