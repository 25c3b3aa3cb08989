-- a named operation with a variable
wrk.method = "POST"
wrk.body = '{"query":"query Book($id: Int!) { book(id: $id) { title year author { name } } }","variables":{"id":7},"operationName":"Book"}'
wrk.headers["Content-Type"] = "application/json"
