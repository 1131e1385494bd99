-- wrk pacing (bench/loadgen.py, `paced`): every connection waits DELAY ms after each answer.
local pause = 0

function init(args)
  pause = tonumber(args[1]) or 0
end

function delay()
  return pause
end
