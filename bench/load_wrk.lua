-- One phase of `python -m bench load` driven by wrk (bench/load.py, `_drive_wrk`): one wrk thread per client, one
-- connection each (`wrk -t16 -c16`), so a thread is one signed-in client with its own cookies.
--
-- bench/load.py signs every client in through the real forms, then writes this phase's data as a Lua table
-- (BENCH_LOAD_WRK_DATA): the phase's action ("bare", "mix" or one key page), the labels, and per client the cookies
-- of its careers lead and coordinator sessions, its CSRF-bearing POST bodies, its lead's matches (the attendance
-- ticks as the form showed them) and the proposals it may approve. Each thread times its own requests with
-- CLOCK_MONOTONIC (one request in flight per connection, so request() .. response() is one request) and keeps them
-- per page label; done() writes every thread's result as JSON (BENCH_LOAD_WRK_OUT) for bench/load.py to merge.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_load_timespec;
int clock_gettime(int clock_id, bench_load_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local clock = ffi.new("bench_load_timespec")

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) * 1e-9
end

-- --- the setup/done state (wrk's main Lua state) ---------------------------------------------------------------

local threads = {}

function setup(thread)
  thread:set("id", #threads)  -- 0-based: client number n of bench/load.py
  threads[#threads + 1] = thread
end

local function encode(value)
  local kind = type(value)
  if kind == "table" then
    local parts = {}
    if value[1] ~= nil then
      for i = 1, #value do parts[i] = encode(value[i]) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    for key, item in pairs(value) do parts[#parts + 1] = encode(tostring(key)) .. ":" .. encode(item) end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif kind == "string" then
    local escaped = value:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end)
    return '"' .. escaped .. '"'
  elseif kind == "number" then
    if value == math.floor(value) and math.abs(value) < 2 ^ 53 then return string.format("%d", value) end
    return string.format("%.6f", value)
  elseif kind == "boolean" then
    return tostring(value)
  end
  return "null"
end

function done(summary, latency, requests)
  -- Each thread's result as a JSON string: wrk 4.1's thread:get copies a table of tables wrongly (its
  -- script_copy_value pops once too often), strings intact.
  local results = {}
  for i, thread in ipairs(threads) do results[i] = thread:get("result_json") end
  local out = assert(io.open(os.getenv("BENCH_LOAD_WRK_OUT"), "w"))
  out:write('{"threads":[' .. table.concat(results, ",") .. '],"errors":' .. encode(summary.errors) ..
            ',"requests":' .. encode(summary.requests) .. ',"duration_us":' .. encode(summary.duration) .. "}")
  out:close()
end

-- --- a client (each wrk thread's own Lua state) -----------------------------------------------------------------

local data, client, labels, host, act
local accounts = {}  -- "lead" / "coordinator": {cookies = {name = value}, header = "a=b; c=d"}
local verified = true  -- thread 0's first request() is wrk's parse check, never sent
local pending, pending_status, pending_account, pending_since  -- the request in flight
local follow_up  -- the mix: the attendance POST due after its form
local turn, toggle = 0, false

-- Read by done() as `result_json` (encoded when asked, after the thread has stopped): per label the response
-- times (ms) and failures, the first few failures' reasons, first request start and last response end
-- (CLOCK_MONOTONIC s), approvals used, requests that got no response (the connection broke; wrk reconnects),
-- responses slower than the timeout, and the one in flight.
local result = {records = {}, failures = {}, notes = {}, used = 0, lost = 0, slow = 0, count = 0}

local function fail(label, why)
  local failures = result.failures
  failures[label] = (failures[label] or 0) + 1
  if failures[label] <= 3 then result.notes[#result.notes + 1] = label .. ": " .. why end
end

local function get(path, account)
  return "GET " .. path .. " HTTP/1.1\r\nHost: " .. host .. "\r\nCookie: " .. accounts[account].header .. "\r\n\r\n"
end

local function post(path, account, body)
  return "POST " .. path .. " HTTP/1.1\r\nHost: " .. host .. "\r\nCookie: " .. accounts[account].header ..
      "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " .. #body .. "\r\n\r\n" .. body
end

-- Each page returns label, expected status, the account that asks, and the request.
local function bare()
  return labels.bare, 200, "lead", get("/healthz", "lead")
end

local function browse()
  local query = data.queries[math.random(#data.queries)]
  return labels.browse, 200, "lead", get("/browse/offers" .. query, "lead")
end

local function progress()
  return labels.progress, 200, "lead", get("/progress", "lead")
end

local function pick_match()
  local matches = client.matches
  if #matches == 0 then return nil end
  return matches[math.random(#matches)]
end

local function attendance_form(match)
  return labels.attendance_form, 200, "lead", get(match.path, "lead")
end

local function attendance_post(match)
  toggle = not toggle  -- a correction: every other time one pupil fewer than the form had
  local body = toggle and match.fewer or match.full
  return labels.attendance_post, 302, "lead", post(match.path, "lead", body)
end

local function queue()
  return labels.queue, 200, "coordinator", get(client.queue, "coordinator")
end

local function approve()
  result.used = result.used + 1
  local match_id = client.proposals[result.used] or client.fallback
  return labels.approve, 302, "coordinator",
      post("/matches/" .. match_id .. "/approve", "coordinator", client.approve_body)
end

local function overview()
  return labels.overview, 200, "coordinator", get("/progress/areas/" .. data.area_id, "coordinator")
end

local function idle()  -- nothing to ask (a lead without matches): stop this thread; the request is not recorded
  wrk.thread:stop()
  return nil, nil, nil, "GET /healthz HTTP/1.1\r\nHost: " .. host .. "\r\n\r\n"
end

local function mix()
  if follow_up then
    local match = follow_up
    follow_up = nil
    return attendance_post(match)
  end
  turn = turn + 1
  if id < data.leads_in_mix then  -- browse 4, own dashboard 3, record attendance (form and post) 1
    local pick = turn % 8
    if pick < 4 then return browse() end
    if pick < 7 then return progress() end
    local match = pick_match()
    if match == nil then return mix() end
    follow_up = match
    return attendance_form(match)
  end
  local pick = turn % 6  -- the queue 4, approve 1, the area's overview 1
  if pick < 4 then return queue() end
  if pick < 5 then return approve() end
  return overview()
end

local SOLO = {
  bare = bare, browse = browse, progress = progress, queue = queue, approve = approve, overview = overview,
  attendance_form = function()
    local match = pick_match()
    if match == nil then return idle() end
    return attendance_form(match)
  end,
  attendance_post = function()
    local match = pick_match()
    if match == nil then return idle() end
    return attendance_post(match)
  end,
}

local function set_cookies(account, header)
  local jar = accounts[account]
  local name, value = header:match("^%s*([^=;%s]+)=([^;]*)")
  if name and value ~= "" and jar.cookies[name] ~= nil and jar.cookies[name] ~= value then
    jar.cookies[name] = value
    local parts = {}
    for key, item in pairs(jar.cookies) do parts[#parts + 1] = key .. "=" .. item end
    jar.header = table.concat(parts, "; ")
  end
end

function init(args)
  setmetatable(_G, {__index = function(_, key)
    if key == "result_json" then return encode(result) end
  end})
  data = dofile(os.getenv("BENCH_LOAD_WRK_DATA"))
  client = data.clients[id + 1]
  labels = data.labels
  host = wrk.headers["Host"]
  result.id = id
  verified = id ~= 0
  turn = id
  math.randomseed(1 + id)
  for _, account in ipairs({"lead", "coordinator"}) do
    accounts[account] = {cookies = client[account .. "_cookies"], header = ""}
    local parts = {}
    for key, item in pairs(client[account .. "_cookies"]) do parts[#parts + 1] = key .. "=" .. item end
    accounts[account].header = table.concat(parts, "; ")
  end
  if data.action == "mix" then
    act = mix
  else
    act = SOLO[data.action]
  end
end

function request()
  if not verified then
    verified = true
    return "GET /healthz HTTP/1.1\r\nHost: " .. host .. "\r\n\r\n"
  end
  if pending then  -- the last request got no response: the connection closed or broke, and wrk reconnected
    result.lost = result.lost + 1
    fail(pending, "no response (connection closed or reset)")
    pending = nil
  end
  local label, status, account, text = act()
  if label then
    pending, pending_status, pending_account = label, status, account
    pending_since = now()
    result.first = result.first or pending_since
  end
  result.pending, result.since = pending, pending_since
  return text
end

function response(status, headers, body)
  local finished = now()
  local label = pending
  if label == nil then return end
  pending = nil
  result.pending = nil
  local ms = (finished - pending_since) * 1000
  local times = result.records[label]
  if times == nil then
    times = {}
    result.records[label] = times
  end
  times[#times + 1] = ms
  result.last = finished
  result.count = result.count + 1
  if status ~= pending_status then
    fail(label, "HTTP " .. status .. ", expected " .. pending_status .. " " .. (headers["Location"] or ""))
  elseif ms >= data.timeout_ms then
    result.slow = result.slow + 1
    fail(label, string.format("%.0f ms, over the timeout", ms))
  end
  -- A POST's redirect puts a flash message in the session, which a browser's next page shows and clears. In the
  -- mix that next page comes; a write page alone never asks for it, so there the cookie from before the POST is
  -- kept (taking the new one would pile up every flash in the cookie, each request decoding a longer one).
  local cookie = headers["Set-Cookie"] or headers["set-cookie"]
  if cookie and (data.action == "mix" or pending_status ~= 302) then set_cookies(pending_account, cookie) end
  if result.count >= data.max_per_thread then wrk.thread:stop() end
end
