-- loadtest/wrk/pipeline.lua — pipelined load: DEPTH requests in every write.
--
--   wrk -t1 -c50 -d5s --latency -s loadtest/wrk/pipeline.lua http://127.0.0.1:PORT/ -- 16
--
-- What it shows: the server's own cost per request once the load generator is
-- not the bottleneck.  At depth 1, wrk's one thread pays a write and a read per
-- request and saturates its core before a fast server does; 16 GETs per write
-- (the TechEmpower plaintext shape) cut wrk's syscalls 16-fold, so the server
-- sets the pace.
--
-- Counting: wrk parses the string request() returns once at start and keeps
-- that many responses pending per connection before it writes again; its
-- request count is the responses it parsed, so req/s is per request, not per
-- write.  Latency is recorded once per batch (write to 16th response).
--
-- The WRKJSON summary line comes from report.lua beside this file, so every
-- scenario reports through the same done().

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local batch

init = function(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do r[i] = wrk.format("GET") end
  batch = table.concat(r)
end

request = function() return batch end
