-- wrk script for bench/compare.py: POST /v1/messages, each request to a phone of its own.
--
-- Arguments after wrk's `--` (bench/load.py passes them):
--   auth     Authorization header value ("Bearer <key>" for wapipe), or "-" for none
--   company  company_id to put in the body (the naive pipeline), or "-" for none
--   first    digits of thread 1's first phone; thread t starts (t - 1) * stride later
--   stride   phones reserved per thread, so two threads never post to one phone
--   share    requests per thread, after which it stops (0: until wrk's -d ends)
--   rate     requests per second per thread, paced by delay() (0: back to back)
-- Each thread prints "thread-done" when its share is answered: wrk itself waits out -d, so
-- the caller interrupts it (SIGINT) once every thread has said so.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local clock = ffi.new("bench_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  table.insert(threads, thread)
  next_id = next_id + 1
end

function init(args)
  company = args[2]
  phone = tonumber(args[3]) + (id - 1) * tonumber(args[4])
  share = tonumber(args[5])
  interval = tonumber(args[6]) > 0 and 1000 / tonumber(args[6]) or 0
  headers = { ["Content-Type"] = "application/json" }
  if args[1] ~= "-" then
    headers["Authorization"] = args[1]
  end
  reserved, sent, answered, accepted, refused = 0, 0, 0, 0, 0
  started = nil
end

-- delay() runs before every request (wrk calls request() when the delay ends), so counting
-- here is exact: once the share is reserved, the remaining connections idle until the stop.
function delay()
  reserved = reserved + 1
  if share > 0 and reserved > share then
    return 3600 * 1000
  end
  if interval == 0 then
    return 0
  end
  started = started or now_ms()
  local wait = started + (reserved - 1) * interval - now_ms()
  return wait > 0 and math.floor(wait) or 0
end

function request()
  local to = "+" .. string.format("%d", phone + sent)
  sent = sent + 1
  local body
  if company ~= "-" then
    body = string.format('{"company_id": %s, "to": "%s", "text": "bench %d"}', company, to, sent)
  else
    body = string.format('{"to": "%s", "text": "bench %d"}', to, sent)
  end
  return wrk.format("POST", "/v1/messages", headers, body)
end

function response(status, headers, body)
  answered = answered + 1
  if status == 202 then
    accepted = accepted + 1
  else
    refused = refused + 1
    if refused <= 3 then
      io.stderr:write(string.format("HTTP %d: %s\n", status, body:sub(1, 300)))
    end
  end
  if share > 0 and answered >= share then
    io.write("thread-done\n")
    io.flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local totals = { answered = 0, accepted = 0, refused = 0 }
  for _, thread in ipairs(threads) do
    for key, _ in pairs(totals) do
      totals[key] = totals[key] + thread:get(key)
    end
  end
  local e = summary.errors
  io.write(string.format(
    'wrk-summary {"requests": %d, "duration_us": %d, "answered": %d, '
      .. '"accepted": %d, "refused": %d, "errors": {"connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d}, "latency_us": {"p50": %d, "p90": %d, "p99": %d, '
      .. '"mean": %d, "max": %d}}\n',
    summary.requests, summary.duration, totals.answered, totals.accepted,
    totals.refused, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max
  ))
end
