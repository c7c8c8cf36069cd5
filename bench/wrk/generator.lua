-- Request generator for `npm run bench`. Every request gets its own user,
-- Idempotency-Key and body, built from a global request index
-- g = gtid + G * k (gtid: this thread's id across every wrk process, G: the
-- number of threads across them, k: this thread's counter), so keys never
-- repeat within a run. Answers are tallied by status per thread and reported
-- by done() as one JSON line prefixed with BENCH_RESULT.
--
-- Arguments (after `--`, key=value): kind, tag, proc, procs, threads,
-- tokens (file: one token a line), coupons (file: "userIndex<TAB>couponId"),
-- lo/hi (product id range), product (hot product id), products and crowd
-- (flashmulti: the hot product ids, comma-separated, and how many users
-- shop in every crowd), code (coupon code),
-- attempts (total real requests across every thread; 0 = time-bounded),
-- progress (file prefix for live counters), seed.

local ffi = require("ffi")
ffi.cdef[[
  typedef struct { long tv_sec; long tv_usec; } bench_timeval;
  int gettimeofday(bench_timeval *tv, void *tz);
]]
local tv = ffi.new("bench_timeval")
local function nowUs()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000000 + tonumber(tv.tv_usec)
end

local threads = {}
local threadCount = 0

function setup(thread)
  thread:set("tid", threadCount)
  threadCount = threadCount + 1
  table.insert(threads, thread)
end

local opt = {}
local tokens = {}
local coupons = {}
local k = 0          -- real requests built by this thread
local answered = 0   -- answers to real requests
local quota = -1     -- real requests this thread sends; -1 = unbounded
local gtid, G
local verifying = false
local progressPath
local filler = nil
statuses = {}
-- First request and last real answer of this thread: wrk's own duration is
-- always the full -d, which is wrong for count-bounded runs.
firstUs = 0
lastUs = 0
-- A coupon burst's first 410 (the quota is gone) and the answers from then on.
goneUs = 0
afterGone = 0

function init(args)
  for _, a in ipairs(args) do
    local key, value = a:match("^([%w_]+)=(.*)$")
    if key then opt[key] = value end
  end
  local procs = tonumber(opt.procs or "1")
  local proc = tonumber(opt.proc or "0")
  local perProc = tonumber(opt.threads or "1")
  gtid = proc * perProc + tid
  G = procs * perProc
  math.randomseed(tonumber(opt.seed or "1") * 7919 + gtid)
  if opt.tokens then
    for line in io.lines(opt.tokens) do tokens[#tokens + 1] = line end
  end
  if opt.coupons then
    for line in io.lines(opt.coupons) do
      local u, c = line:match("^(%d+)\t(%d+)$")
      if u then coupons[tonumber(u)] = c end
    end
  end
  local attempts = tonumber(opt.attempts or "0")
  if attempts > 0 then quota = math.max(0, math.ceil((attempts - gtid) / G)) end
  if opt.progress then progressPath = opt.progress .. "-" .. gtid end
  -- wrk calls request() once on thread 0 right after init() to inspect it;
  -- that request is never sent, so it must not use up an index.
  verifying = (tid == 0)
  filler = wrk.format("GET", "/__bench_filler")
end

local lo, hi
local function auth(u)
  return { ["authorization"] = "Bearer " .. tokens[u], ["content-type"] = "application/json" }
end

local hot = nil

-- Overlapping flash sales: request g goes to hot product g % P, and the
-- crowd of each product walks the same `crowd` users in an order of its own
-- (a multiplier coprime to the crowd size, and an offset, per product).
local crowdSteps = { 1, 5, 7, 11, 13, 17, 19, 23 }
local function flashMultiRequest(g)
  if hot == nil then
    hot = {}
    for id in opt.products:gmatch("%d+") do hot[#hot + 1] = id end
  end
  local P = #hot
  local crowd = tonumber(opt.crowd)
  local i = g % P
  local x = math.floor(g / P) % crowd
  local u = ((x * crowdSteps[i + 1] + i * 13) % crowd) + 1
  local h = auth(u)
  h["idempotency-key"] = opt.tag .. "-" .. g
  return wrk.format("POST", "/api/orders", h, '{"items":[{"productId":' .. hot[i + 1] .. ',"quantity":1}]}')
end

local function orderBody(g, u)
  lo = lo or tonumber(opt.lo); hi = hi or tonumber(opt.hi)
  local n = math.random(1, 3)
  local used, items = {}, {}
  while #items < n do
    local p = math.random(lo, hi)
    if not used[p] then
      used[p] = true
      items[#items + 1] = '{"productId":' .. p .. ',"quantity":' .. math.random(1, 3) .. '}'
    end
  end
  local body = '{"items":[' .. table.concat(items, ",") .. ']'
  -- A user's coupon is used by that user's first order of the run only.
  if g < #tokens and coupons[u] then body = body .. ',"couponId":' .. coupons[u] end
  return body .. "}"
end

local function build(g)
  local u = (g % math.max(#tokens, 1)) + 1
  local kind = opt.kind
  if kind == "hello" then return wrk.format("GET", "/hello") end
  if kind == "flashmulti" then return flashMultiRequest(g) end
  local h = auth(u)
  if kind == "product" then
    lo = lo or tonumber(opt.lo); hi = hi or tonumber(opt.hi)
    return wrk.format("GET", "/api/products/" .. math.random(lo, hi), h)
  elseif kind == "list" then
    return wrk.format("GET", "/api/products?limit=20", h)
  elseif kind == "popular" then
    return wrk.format("GET", "/api/products/popular", h)
  end
  h["idempotency-key"] = opt.tag .. "-" .. g
  if kind == "order" then
    return wrk.format("POST", "/api/orders", h, orderBody(g, u))
  elseif kind == "flash" then
    return wrk.format("POST", "/api/orders", h, '{"items":[{"productId":' .. opt.product .. ',"quantity":1}]}')
  elseif kind == "coupon" then
    h["idempotency-key"] = nil
    return wrk.format("POST", "/api/coupons", h, '{"couponCode":"' .. opt.code .. '"}')
  elseif kind == "charge" then
    return wrk.format("POST", "/api/points/charge", h, '{"amount":1000}')
  end
  error("unknown kind " .. tostring(kind))
end

function request()
  if verifying then
    verifying = false
    return filler
  end
  -- Past its quota a thread sends fillers (404) until every real answer is in.
  if quota >= 0 and k >= quota then return filler end
  local g = gtid + G * k
  if k == 0 then firstUs = nowUs() end
  k = k + 1
  return build(g)
end

local function writeProgress(finished)
  if not progressPath then return end
  local f = io.open(progressPath, "w")
  if f then f:write(answered .. (finished and " done" or "")); f:close() end
end

local function finish()
  writeProgress(true)
  wrk.thread:stop()
end

function response(status, headers, body)
  if quota >= 0 and status == 404 then
    if answered >= quota then finish() end
    return
  end
  answered = answered + 1
  lastUs = nowUs()
  if goneUs == 0 and status == 410 then goneUs = lastUs end
  if goneUs > 0 then afterGone = afterGone + 1 end
  statuses[status] = (statuses[status] or 0) + 1
  if answered % 500 == 0 then writeProgress(false) end
  if quota >= 0 and answered >= quota then finish() end
end

function done(summary, latency, requests)
  local parts = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s then
      for code, n in pairs(s) do
        local key = tostring(code)
        parts[key] = (parts[key] or 0) + n
      end
    end
  end
  local startUs, endUs, gone, after = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    local a, b, c = t:get("firstUs"), t:get("lastUs"), t:get("goneUs")
    if a > 0 and (startUs == 0 or a < startUs) then startUs = a end
    if b > endUs then endUs = b end
    if c > 0 and (gone == 0 or c < gone) then gone = c end
    after = after + t:get("afterGone")
  end
  local tally = {}
  for code, n in pairs(parts) do tally[#tally + 1] = '"' .. code .. '":' .. n end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"durationUs":%d,"activeUs":%d,"requests":%d,"bytes":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,' ..
    '"firstUs":%d,"lastUs":%d,"goneUs":%d,"afterGone":%d,"socketErrors":%d,"statuses":{%s}}\n',
    summary.duration, math.max(0, endUs - startUs), summary.requests, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    startUs, endUs, gone, after, e.connect + e.read + e.write + e.timeout, table.concat(tally, ",")))
end
