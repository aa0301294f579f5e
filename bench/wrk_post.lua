-- wrk script for bench/intake.py: POST one QuestionnaireResponse per request, each with a
-- unique identifier value (the intake treats a repeated identifier as a replay), count
-- the answers by status code and print one JSON line with the numbers wrk measured.
--
--   wrk -t1 -c32 -d10s -s bench/wrk_post.lua URL -- TEMPLATE_FILE RUN_NONCE TOKEN
--
-- TEMPLATE_FILE is the request body with the identifier value replaced by @@ID@@.

local threads = {}
local next_thread = 0

function setup(thread)
   next_thread = next_thread + 1
   thread:set("tid", next_thread)
   table.insert(threads, thread)
end

function init(args)
   local file = assert(io.open(args[1], "rb"))
   local template = file:read("*a")
   file:close()
   local at = assert(string.find(template, "@@ID@@", 1, true), "no @@ID@@ in template")
   prefix = string.sub(template, 1, at - 1)
   suffix = string.sub(template, at + 6)
   id_prefix = args[2] .. "-" .. tid .. "-"
   sent = 0
   c201 = 0
   c200 = 0
   c4xx = 0
   c5xx = 0
   cother = 0
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/fhir+json"
   wrk.headers["Authorization"] = "Bearer " .. args[3]
end

function request()
   sent = sent + 1
   return wrk.format(nil, nil, nil, prefix .. id_prefix .. sent .. suffix)
end

function response(status, headers, body)
   if status == 201 then
      c201 = c201 + 1
   elseif status == 200 then
      c200 = c200 + 1
   elseif status >= 500 then
      c5xx = c5xx + 1
   elseif status >= 400 then
      c4xx = c4xx + 1
   else
      cother = cother + 1
   end
end

function done(summary, latency, requests)
   local totals = { c201 = 0, c200 = 0, c4xx = 0, c5xx = 0, cother = 0 }
   for _, thread in ipairs(threads) do
      for name, _ in pairs(totals) do
         totals[name] = totals[name] + (thread:get(name) or 0)
      end
   end
   local e = summary.errors
   io.write(string.format(
      '\nWRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, '
         .. '"p99_us": %d, "max_us": %d, "mean_us": %.1f, "status_201": %d, '
         .. '"status_200": %d, "status_4xx": %d, "status_5xx": %d, "status_other": %d, '
         .. '"errors_connect": %d, "errors_read": %d, "errors_write": %d, '
         .. '"errors_timeout": %d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean, totals.c201, totals.c200,
      totals.c4xx, totals.c5xx, totals.cother, e.connect, e.read, e.write, e.timeout))
end
