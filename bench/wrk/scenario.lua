-- One wrk script for every scenario of bench/run.py, chosen by environment variables:
--   BENCH_SCENARIO  create | list_first | list_deep | get | transition | mixed
--   BENCH_TOKEN     API token with incidents:read and incidents:write
--   BENCH_ID_LOW, BENCH_ID_HIGH  id range for get and transition
--   BENCH_CURSOR    cursor of the deep page (list_deep, mixed)
--   BENCH_THREADS   wrk's -t, so transition threads take disjoint ids
-- done() prints one line "BENCH_JSON {...}" that bench/run.py parses.

local scenario = os.getenv("BENCH_SCENARIO") or "get"
local token = os.getenv("BENCH_TOKEN") or ""
local id_low = tonumber(os.getenv("BENCH_ID_LOW") or "1")
local id_high = tonumber(os.getenv("BENCH_ID_HIGH") or "1")
local cursor = os.getenv("BENCH_CURSOR") or ""
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
local threads = {}

local read_headers = { ["Authorization"] = "Bearer " .. token }
local write_headers = {
  ["Authorization"] = "Bearer " .. token,
  ["Content-Type"] = "application/json",
}
local severities = { "SEV1", "SEV2", "SEV3", "SEV4" }

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  counter = 0
  math.randomseed(os.time() + 7919 * (index + 1))
end

local function create()
  local body = string.format(
    '{"title": "bench storm %d-%d", "severity": "%s", "service": "checkout",'
      .. ' "summary": "p99 above SLO", "tags": ["bench", "latency"]}',
    index, counter, severities[counter % 4 + 1])
  return wrk.format("POST", "/api/v1/incidents", write_headers, body)
end

local function list_first()
  return wrk.format("GET", "/api/v1/incidents", read_headers)
end

local function list_deep()
  return wrk.format("GET", "/api/v1/incidents?cursor=" .. cursor, read_headers)
end

local function get()
  local id = math.random(id_low, id_high)
  return wrk.format("GET", "/api/v1/incidents/" .. id, read_headers)
end

-- The seed leaves ids low..high in "investigating"; each thread walks its own ids, moving
-- them to "identified", and back to "investigating" on the next lap, so every move is legal.
local function transition()
  local span = id_high - id_low + 1
  local n = counter * nthreads + index
  local id = id_low + n % span
  local target = (math.floor(n / span) % 2 == 0) and "identified" or "investigating"
  local body = string.format('{"to": "%s"}', target)
  return wrk.format("POST", "/api/v1/incidents/" .. id .. "/transitions", write_headers, body)
end

local function mixed()
  local pick = math.random(100)
  if pick <= 50 then
    return get()
  elseif pick <= 70 then
    return list_first()
  elseif pick <= 80 then
    return list_deep()
  end
  return create()
end

local builders = {
  create = create,
  list_first = list_first,
  list_deep = list_deep,
  get = get,
  transition = transition,
  mixed = mixed,
}
local build = builders[scenario]

function request()
  counter = counter + 1
  return build()
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      merged[status] = (merged[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(merged) do
    table.insert(parts, string.format('"%d": %d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d,'
      .. ' "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d},'
      .. ' "latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f},'
      .. ' "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, table.concat(parts, ", ")))
end
