-- loadtest/wrk/report.lua — wrk's summary as one JSON line, for loadtest/compare.
--
--   wrk -t1 -c50 -d5s --latency -s loadtest/wrk/report.lua http://127.0.0.1:PORT/
--
-- What it shows: wrk's usual text report, followed by one line
--   WRKJSON {"requests": ..., "duration_us": ..., "latency_us": {...}, "errors": {...}}
-- so the harness reads exact numbers instead of wrk's rounded, unit-suffixed text.
-- Defining only done() keeps wrk on its fast path (no per-request Lua calls).

done = function(summary, latency, requests)
  local e = summary.errors
  local function pct(p) return latency:percentile(p) end
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"latency_us": {"min": %d, "mean": %.1f, "stdev": %.1f, "p50": %d, "p90": %d, ' ..
    '"p99": %d, "p999": %d, "max": %d}, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency.min, latency.mean, latency.stdev, pct(50), pct(90), pct(99), pct(99.9), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
