-- POST /api/articles/{slug}/comments, each request from the next (writer, article) pair: every
-- comment is on someone else's article, so Conduit also stores the author's notification.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "pairs.lua")
local body = '{"comment":{"body":"Thanks, this saved me an afternoon of profiling."}}'
local sent = 0

request = function()
  local pair = writes[sent % #writes + 1]
  sent = sent + 1
  return wrk.format("POST", "/api/articles/" .. pair.slug .. "/comments",
                    {["Authorization"] = pair.authorization, ["Content-Type"] = "application/json"},
                    body)
end
