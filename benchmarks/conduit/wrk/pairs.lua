-- The (token, slug) pairs the write scenarios cycle through, one "token slug" line each in the
-- file CONDUIT_BENCH_PAIRS names (benchmarks/conduit/run writes it from the seed's writers).
local pairs_file = os.getenv("CONDUIT_BENCH_PAIRS")
assert(pairs_file, "CONDUIT_BENCH_PAIRS is not set: run this through benchmarks/conduit/run")
writes = {}
for line in io.lines(pairs_file) do
  local token, slug = line:match("^(%S+)%s+(%S+)$")
  writes[#writes + 1] = {slug = slug, authorization = "Token " .. token}
end
assert(#writes > 0, "no pairs in " .. pairs_file)
