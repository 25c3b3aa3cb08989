-- POST /predict, cycling through three flowers (one of each species)
local bodies = {
  '{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2}',
  '{"sepal_length":7.0,"sepal_width":3.2,"petal_length":4.7,"petal_width":1.4}',
  '{"sepal_length":6.3,"sepal_width":3.3,"petal_length":6.0,"petal_width":2.5}',
}
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[n])
end
