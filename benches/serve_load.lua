-- wrk script for benches/serve_load.sh: neighbour requests (k=10) for words
-- taken in turn from WORDS (one a line), each wrk thread stopping after
-- PER_THREAD responses, so a run is bounded in count (and by wrk -d in time).
local words, per_thread, extra = {}, tonumber(os.getenv("PER_THREAD") or "1000"), os.getenv("EXTRA") or ""
for w in io.lines(os.getenv("WORDS")) do
  words[#words + 1] = w:gsub("[^%w]", function(c) return string.format("%%%02X", string.byte(c)) end)
end
local i, done = 0, 0
function init(args) i = math.random(#words) end
function request()
  i = i % #words + 1
  return wrk.format("GET", "/api/neighbors?k=10&word=" .. words[i] .. extra)
end
function response(status, headers, body)
  done = done + 1
  if status ~= 200 then print("status " .. status .. ": " .. body) end
  if done >= per_thread then wrk.thread:stop() end
end
