-- wrk script: POST a small, unstreamed chat request (tests/bench/bench.sh).
-- The model name can be changed with the BENCH_MODEL environment variable.
local model = os.getenv("BENCH_MODEL") or "bench"
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench"
wrk.body = '{"model":"' .. model .. '","messages":[{"role":"system","content":"You are terse."},'
        .. '{"role":"user","content":"Say hello."}],"max_tokens":16,"temperature":0}'
