-- bench/http_pipeline.lua -- wrk script for bench/http's pipelined load:
-- every write carries DEPTH requests (default 16) for the URL's path, each
-- made by wrk.format with the run's method and headers, back to back.
--   wrk -t1 -c50 -d10s --latency -s bench/http_pipeline.lua URL -- 16
-- wrk counts a response per request, so requests/s counts each of the
-- DEPTH answers; its latency is measured per write (the batch).
init = function(args)
    local depth = tonumber(args[1]) or 16
    local r = {}
    for i = 1, depth do
        r[i] = wrk.format()
    end
    batch = table.concat(r)
end

request = function()
    return batch
end
