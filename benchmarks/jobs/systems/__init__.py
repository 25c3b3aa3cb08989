"""One module per system measured by benchmarks/jobs/run: the no-op job as each library's
docs teach it, the worker settings its CLI reads, and a producer for the benchmark process.

Configured by environment variables the runner sets: BENCH_REDIS_URL, BENCH_PG_DSN (a
``postgresql://`` DSN), BENCH_CONCURRENCY (jobs a worker runs at once) and BENCH_OUT (the
folder where jobs record their start).
"""
