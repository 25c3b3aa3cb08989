-- a small list: ten books, four fields each and their author's two
wrk.method = "POST"
wrk.body = '{"query":"{ books(first: 10) { id title year author { name born } } }"}'
wrk.headers["Content-Type"] = "application/json"
