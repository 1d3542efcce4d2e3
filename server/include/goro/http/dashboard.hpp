// goro/http/dashboard.hpp — the live dashboard at /debug/.
//
// One self-contained HTML page (inline CSS and JavaScript, nothing fetched
// from elsewhere) that polls /debug/vars and /debug/goroutines once a second
// and draws the last minutes: requests/s, connections, goroutines, OS
// threads, RSS and per-P run queues, and the goroutines grouped by wait
// reason.  It works in every mode; what a mode lacks (goroutines, Ps) is
// hidden.
#pragma once

#include "goro/http/router.hpp"

namespace goro::http {

/// Adds GET /debug/ (the dashboard page, text/html) and GET /debug (a
/// redirect to /debug/, so the page's relative links resolve) to `r`.
/// The page reads /debug/vars and /debug/goroutines: add those too.
void add_dashboard_routes(Router& r);

}  // namespace goro::http
