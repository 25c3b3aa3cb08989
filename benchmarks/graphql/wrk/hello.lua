-- the smallest query: one field, no arguments
wrk.method = "POST"
wrk.body = '{"query":"{ hello }"}'
wrk.headers["Content-Type"] = "application/json"
