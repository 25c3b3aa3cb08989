-- POST, then DELETE, /api/articles/{slug}/favorite: a sweep favourites every (writer, article)
-- pair once, the next sweep unfavourites them all, and so on, so each request changes a row
-- (after the first sweep of a run) and no two requests in flight touch the same pair (there
-- are far more pairs than wrk's 64 connections), which a concurrent double favourite would.
-- The runner removes the writers' favourites before each load, so every run starts alike.
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "pairs.lua")
local sent = 0

request = function()
  local n = #writes
  local pair = writes[sent % n + 1]
  local method = (math.floor(sent / n) % 2 == 0) and "POST" or "DELETE"
  sent = sent + 1
  return wrk.format(method, "/api/articles/" .. pair.slug .. "/favorite",
                    {["Authorization"] = pair.authorization})
end
