"""The Redis jobs backend: every transition is one Lua script, so it is atomic across processes.

Keys (under ``prefix``, ``bastion:jobs:`` by default)::

    j:<id>             hash: the job (fields below; args, timeout, tags, trace as one msgpack blob)
    q:<queue>          sorted set of pending jobs whose run_at has come, scored by priority, the
                       member "<run_at µs, 16 hex><sequence, 12 hex><id>" so ties go oldest first
    s:<queue>          sorted set of pending jobs waiting for run_at (moved to q: by claim)
    r:<queue>          sorted set of running jobs scored by lease expiry (what rescue looks at)
    d:<queue>:<state>  sorted set of finished jobs scored by finished_at (counts, purge)
    all                sorted set of every job scored by enqueued_at (list)
    u:<unique key>     the id holding a unique key (expires at unique_until once finished)
    w:<queue>          wake-up list: a token per job made available, popped by wait()'s BLPOP
    queues, seq        the queue names ever used; the FIFO sequence
    lock:<name>        lead()'s lock

One enqueue, claim or finish is one round trip (EVALSHA). Times are the callers' epoch
seconds, passed into the scripts as exact strings. The client reconnects by itself after
Redis restarts (redis-py's retry); what Redis keeps across a restart is its persistence
configuration's business (``appendonly yes`` keeps everything). Needs Redis 6.2 or later
(BLPOP with a fractional timeout) on one server: the scripts touch keys they compute, which
Redis Cluster refuses. docs/jobs.md, "Redis backend", is the user's view.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from bastion.exceptions import ConfigurationError
from bastion.jobs.record import JobRecord, JobState

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from bastion._redis_pipe import RedisPipe

__all__ = ["RedisJobsBackend"]

#: The hash fields returned for a job, in the order ``_record`` reads them.
_FIELDS = tuple("n q p ra a ma uk uu s e ea sa fa w lu c x".split())  # noqa: SIM905
_BATCH = 1000  # records per enqueue script call, jobs per rescue/purge call
#: How late Redis may end a blocking command's timeout: it checks them on its clock's tick,
#: ``hz`` times a second (10 by default).
_TICK = 0.1

_PRELUDE = """
local P = ARGV[1]
local FIELDS = {$FIELDS}
local function wake(q, n)
  -- at most 8 tokens wait in a list: enough to wake that many idle workers at once
  local k = P .. 'w:' .. q
  n = math.min(n, 8 - redis.call('LLEN', k))
  if n <= 0 then return end
  local t = {}
  for i = 1, n do t[i] = '1' end
  redis.call('LPUSH', k, unpack(t))
end
local function add_error(jk, errors, err)
  if not errors or errors == '[]' then errors = '[' .. err .. ']'
  else errors = string.sub(errors, 1, -2) .. ',' .. err .. ']' end
  redis.call('HSET', jk, 'e', errors)
end
local function free_unique(id, uk, uu, now)
  if not uk then return end
  local k = P .. 'u:' .. uk
  if redis.call('GET', k) ~= id then return end
  if uu and tonumber(uu) > now then
    redis.call('PEXPIREAT', k, string.format('%.0f', math.ceil(tonumber(uu) * 1000)))
  else
    redis.call('DEL', k)
  end
end
local function forget(id, dk)
  local jk = P .. 'j:' .. id
  local uk = redis.call('HGET', jk, 'uk')
  if uk and redis.call('GET', P .. 'u:' .. uk) == id then redis.call('DEL', P .. 'u:' .. uk) end
  redis.call('DEL', jk)
  redis.call('ZREM', dk, id)
  redis.call('ZREM', P .. 'all', id)
end
local KEEP = $KEEP
local function finish(id, jk, q, state, nows, uk, uu)
  redis.call('HSET', jk, 's', state, 'fa', nows)
  redis.call('HDEL', jk, 'w', 'lu')
  local dk = P .. 'd:' .. q .. ':' .. state
  redis.call('ZADD', dk, nows, id)
  free_unique(id, uk, uu, tonumber(nows))
  if KEEP and state == 'succeeded' then
    -- retention, a few at a time: each success forgets up to 4 successes older than KEEP
    local before = '(' .. string.format('%.6f', tonumber(nows) - KEEP)
    for _, old in ipairs(redis.call('ZRANGEBYSCORE', dk, '-inf', before, 'LIMIT', 0, 4)) do
      forget(old, dk)
    end
  end
end
local function pend(id, jk, q, pr, m)
  redis.call('HSET', jk, 's', 'pending')
  redis.call('HDEL', jk, 'w', 'lu')
  redis.call('ZADD', P .. 'q:' .. q, pr, m)
  wake(q, 1)
end
local function member(run_hex, id)
  return run_hex .. string.format('%012x', redis.call('INCR', P .. 'seq')) .. id
end
""".replace("$FIELDS", ", ".join(f"'{f}'" for f in _FIELDS))

#: ARGV: prefix, now, count, then 13 values per record (see ``_enqueue_args``).
_ENQUEUE = """
local now, n, F = tonumber(ARGV[2]), tonumber(ARGV[3]), 13
local seq = redis.call('INCRBY', P .. 'seq', n) - n
local out, woken, queues = {}, {}, {}
for i = 0, n - 1 do
  local b = 3 + i * F
  local id, q, pr, ra, uk, uu = ARGV[b+1], ARGV[b+2], ARGV[b+3], ARGV[b+4], ARGV[b+6], ARGV[b+7]
  local jk = P .. 'j:' .. id
  local holder = false
  if redis.call('EXISTS', jk) == 1 then
    holder = id
  elseif uk ~= '' then
    local h = redis.call('GET', P .. 'u:' .. uk)
    if h then
      local f = redis.call('HMGET', P .. 'j:' .. h, 's', 'uu')
      if f[1] == 'pending' or f[1] == 'running' or (f[1] and f[2] and tonumber(f[2]) > now) then
        holder = h
      end
    end
  end
  if holder then
    out[i + 1] = holder
  else
    local m = ARGV[b+5] .. string.format('%012x', seq + i) .. id
    local h = {'n', ARGV[b+8], 'q', q, 'p', pr, 'ra', ra, 'a', ARGV[b+9], 'ma', ARGV[b+10],
      's', 'pending', 'e', ARGV[b+11], 'ea', ARGV[b+12], 'x', ARGV[b+13], 'm', m}
    if uk ~= '' then
      h[#h + 1] = 'uk'
      h[#h + 1] = uk
      redis.call('SET', P .. 'u:' .. uk, id)
    end
    if uu ~= '' then
      h[#h + 1] = 'uu'
      h[#h + 1] = uu
    end
    redis.call('HSET', jk, unpack(h))
    redis.call('ZADD', P .. 'all', ARGV[b+12], id)
    if tonumber(ra) <= now then
      redis.call('ZADD', P .. 'q:' .. q, pr, m)
      woken[q] = (woken[q] or 0) + 1
    else
      redis.call('ZADD', P .. 's:' .. q, ra, id)
      woken[q] = woken[q] or 1  -- so a waiting worker sets its wait to end at this run_at
    end
    queues[q] = true
    out[i + 1] = id
  end
end
for q in pairs(queues) do redis.call('SADD', P .. 'queues', q) end
for q, k in pairs(woken) do wake(q, k) end
return out
"""

#: ARGV: prefix, now, limit, worker, lease_until, queues...; returns id and _FIELDS per job.
_CLAIM = """
local now, nows, limit, worker, lu = tonumber(ARGV[2]), ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
for i = 6, #ARGV do
  local q = ARGV[i]
  local sk = P .. 's:' .. q
  local due = redis.call('ZRANGEBYSCORE', sk, '-inf', nows, 'LIMIT', 0, 500)
  if #due > 0 then
    for _, id in ipairs(due) do
      local f = redis.call('HMGET', P .. 'j:' .. id, 'p', 'm', 's')
      if f[3] == 'pending' then redis.call('ZADD', P .. 'q:' .. q, f[1], f[2]) end
    end
    redis.call('ZREM', sk, unpack(due))
  end
end
local picked = {}
if #ARGV == 6 then
  local r = redis.call('ZPOPMIN', P .. 'q:' .. ARGV[6], limit)
  for j = 1, #r, 2 do picked[#picked + 1] = {r[j], ARGV[6]} end
else
  local cand = {}
  for i = 6, #ARGV do
    local r = redis.call('ZRANGE', P .. 'q:' .. ARGV[i], 0, limit - 1, 'WITHSCORES')
    for j = 1, #r, 2 do cand[#cand + 1] = {tonumber(r[j + 1]), r[j], ARGV[i]} end
  end
  table.sort(cand, function(x, y)
    if x[1] ~= y[1] then return x[1] < y[1] end
    return x[2] < y[2]
  end)
  for j = 1, math.min(limit, #cand) do
    redis.call('ZREM', P .. 'q:' .. cand[j][3], cand[j][2])
    picked[#picked + 1] = {cand[j][2], cand[j][3]}
  end
end
local out = {}
for _, pm in ipairs(picked) do
  local id = string.sub(pm[1], 29)
  local jk = P .. 'j:' .. id
  if redis.call('HGET', jk, 's') == 'pending' then
    redis.call('HINCRBY', jk, 'a', 1)
    redis.call('HSET', jk, 's', 'running', 'w', worker, 'lu', lu, 'sa', nows)
    redis.call('ZADD', P .. 'r:' .. pm[2], lu, id)
    out[#out + 1] = id
    for _, v in ipairs(redis.call('HMGET', jk, unpack(FIELDS))) do out[#out + 1] = v end
  end
end
if #picked >= limit then
  -- more may be waiting: pass the wake-up on to another idle worker
  for i = 6, #ARGV do
    if redis.call('ZCARD', P .. 'q:' .. ARGV[i]) > 0 then wake(ARGV[i], 1) break end
  end
end
return out
"""

#: ARGV: prefix, worker, lease_until, ids...; returns the ids whose cancellation was asked.
_EXTEND = """
local worker, lu = ARGV[2], ARGV[3]
local cancel = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local jk = P .. 'j:' .. id
  local f = redis.call('HMGET', jk, 's', 'w', 'q', 'c')
  if f[1] == 'running' and f[2] == worker then
    redis.call('HSET', jk, 'lu', lu)
    redis.call('ZADD', P .. 'r:' .. f[3], lu, id)
    if f[4] == '1' then cancel[#cancel + 1] = id end
  end
end
return cancel
"""

#: ARGV: prefix, now, id, worker, action (succeed|fail|retry), error as JSON or '', run_at,
#: run_hex. A job whose cancellation was asked ends cancelled instead of failed or retried.
_FINISH = """
local now, nows, id, worker, action = tonumber(ARGV[2]), ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local jk = P .. 'j:' .. id
local f = redis.call('HMGET', jk, 's', 'w', 'q', 'c', 'p', 'e', 'uk', 'uu')
if f[1] ~= 'running' or f[2] ~= worker then return 0 end
local q = f[3]
redis.call('ZREM', P .. 'r:' .. q, id)
if ARGV[6] ~= '' then add_error(jk, f[6], ARGV[6]) end
if action == 'succeed' then
  finish(id, jk, q, 'succeeded', nows, f[7], f[8])
elseif f[4] == '1' then
  finish(id, jk, q, 'cancelled', nows, f[7], f[8])
elseif action == 'fail' then
  finish(id, jk, q, 'failed', nows, f[7], f[8])
else
  local ra = ARGV[7]
  local m = member(ARGV[8], id)
  redis.call('HSET', jk, 'ra', ra, 'm', m)
  if tonumber(ra) <= now then
    pend(id, jk, q, f[5], m)
  else
    redis.call('HSET', jk, 's', 'pending')
    redis.call('HDEL', jk, 'w', 'lu')
    redis.call('ZADD', P .. 's:' .. q, ra, id)
    wake(q, 1)
  end
end
return 1
"""

#: ARGV: prefix, now, worker, ids...
_RELEASE = """
local nows, worker = ARGV[2], ARGV[3]
for i = 4, #ARGV do
  local id = ARGV[i]
  local jk = P .. 'j:' .. id
  local f = redis.call('HMGET', jk, 's', 'w', 'q', 'c', 'p', 'm', 'uk', 'uu')
  if f[1] == 'running' and f[2] == worker then
    redis.call('ZREM', P .. 'r:' .. f[3], id)
    if f[4] == '1' then
      finish(id, jk, f[3], 'cancelled', nows, f[7], f[8])
    else
      redis.call('HINCRBY', jk, 'a', -1)
      pend(id, jk, f[3], f[5], f[6])
    end
  end
end
return 0
"""

#: ARGV: prefix, now, limit; returns how many expired leases it handled.
_RESCUE = """
local nows, limit = ARGV[2], tonumber(ARGV[3])
local n = 0
for _, q in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
  local rk = P .. 'r:' .. q
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', rk, '-inf', nows, 'LIMIT', 0, limit - n)) do
    redis.call('ZREM', rk, id)
    local jk = P .. 'j:' .. id
    local f = redis.call('HMGET', jk, 's', 'a', 'ma', 'c', 'p', 'm', 'uk', 'uu', 'w', 'e')
    if f[1] == 'running' then
      n = n + 1
      add_error(jk, f[10], cjson.encode('lease expired: worker ' .. (f[9] or '?') ..
        ' stopped renewing it (killed or stalled)'))
      if f[4] == '1' then
        finish(id, jk, q, 'cancelled', nows, f[7], f[8])
      elseif tonumber(f[2]) >= tonumber(f[3]) then
        finish(id, jk, q, 'failed', nows, f[7], f[8])
      else
        pend(id, jk, q, f[5], f[6])
      end
    end
  end
  if n >= limit then break end
end
return n
"""

#: ARGV: prefix, now, id.
_CANCEL = """
local nows, id = ARGV[2], ARGV[3]
local jk = P .. 'j:' .. id
local f = redis.call('HMGET', jk, 's', 'q', 'm', 'uk', 'uu')
if f[1] == 'pending' then
  redis.call('ZREM', P .. 'q:' .. f[2], f[3])
  redis.call('ZREM', P .. 's:' .. f[2], id)
  finish(id, jk, f[2], 'cancelled', nows, f[4], f[5])
  return 1
elseif f[1] == 'running' then
  redis.call('HSET', jk, 'c', '1')
  return 1
end
return 0
"""

#: ARGV: prefix, now, id, run_hex.
_REQUEUE = """
local nows, id = ARGV[2], ARGV[3]
local jk = P .. 'j:' .. id
local f = redis.call('HMGET', jk, 's', 'q', 'p', 'uk')
if f[1] ~= 'failed' and f[1] ~= 'cancelled' then return 0 end
redis.call('ZREM', P .. 'd:' .. f[2] .. ':' .. f[1], id)
if f[4] then
  local k = P .. 'u:' .. f[4]
  local h = redis.call('GET', k)
  local hs = h and redis.call('HGET', P .. 'j:' .. h, 's')
  if h ~= id and hs ~= 'pending' and hs ~= 'running' then h = false end
  if not h or h == id then redis.call('SET', k, id) end
end
local m = member(ARGV[4], id)
redis.call('HSET', jk, 'a', 0, 'ra', nows, 'm', m)
redis.call('HDEL', jk, 'fa', 'c')
pend(id, jk, f[2], f[3], m)
return 1
"""

#: ARGV: prefix, older_than, limit, states...; returns how many it deleted.
_PURGE = """
local older, limit, now = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local n = 0
for _, q in ipairs(redis.call('SMEMBERS', P .. 'queues')) do
  for i = 5, #ARGV do
    local dk = P .. 'd:' .. q .. ':' .. ARGV[i]
    local kept = 0  -- jobs still holding their unique key until unique_until: left alone
    while n < limit do
      local ids = redis.call('ZRANGEBYSCORE', dk, '-inf', '(' .. older, 'LIMIT', kept, limit - n)
      if #ids == 0 then break end
      for _, id in ipairs(ids) do
        local f = redis.call('HMGET', P .. 'j:' .. id, 'uk', 'uu')
        if f[1] and f[2] and tonumber(f[2]) > now then
          kept = kept + 1
        else
          forget(id, dk)
          n = n + 1
        end
      end
    end
    if n >= limit then return n end
  end
end
return n
"""

#: ARGV: prefix, state, queue, name ('' for any), limit, start rank, page size;
#: returns the next start rank (-1 at the end), then id and _FIELDS per match.
_LIST = """
local state, queue, name = ARGV[2], ARGV[3], ARGV[4]
local limit, start, page = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local ids = redis.call('ZREVRANGE', P .. 'all', start, start + page - 1)
local out, found = {-1}, 0
for i, id in ipairs(ids) do
  local jk = P .. 'j:' .. id
  local f = redis.call('HMGET', jk, 's', 'q', 'n')
  if f[1] and (state == '' or f[1] == state) and (queue == '' or f[2] == queue)
      and (name == '' or f[3] == name) then
    out[#out + 1] = id
    for _, v in ipairs(redis.call('HMGET', jk, unpack(FIELDS))) do out[#out + 1] = v end
    found = found + 1
    if found >= limit then
      out[1] = start + i
      return out
    end
  end
end
if #ids == page then out[1] = start + page end
return out
"""

#: ARGV: key, holder, ttl in milliseconds.
_LEAD = """
local cur = redis.call('GET', ARGV[1])
if not cur then
  redis.call('SET', ARGV[1], ARGV[2], 'PX', ARGV[3])
  return 1
elseif cur == ARGV[2] then
  redis.call('PEXPIRE', ARGV[1], ARGV[3])
  return 1
end
return 0
"""

_SCRIPTS = {
    "enqueue": _ENQUEUE,
    "claim": _CLAIM,
    "extend": _EXTEND,
    "finish": _FINISH,
    "release": _RELEASE,
    "rescue": _RESCUE,
    "cancel": _CANCEL,
    "requeue": _REQUEUE,
    "purge": _PURGE,
    "list": _LIST,
}

_Static = tuple[bytes, float | None, tuple[str, ...], dict[str, str] | None]
_static_encoder = msgspec.msgpack.Encoder()
_static_decoder = msgspec.msgpack.Decoder(_Static)
_errors_decoder = msgspec.json.Decoder(list[str])
_json_encoder = msgspec.json.Encoder()
_FINISHED_STATES = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)
_MAX_HEX = 16**16 - 1


def _run_hex(run_at: float) -> str:
    """run_at in microseconds as 16 hex digits: members of one priority sort by run_at."""
    return f"{min(max(int(run_at * 1_000_000), 0), _MAX_HEX):016x}"


def _float(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _enqueue_args(record: JobRecord) -> list[str | bytes]:
    static: _Static = (record.args, record.timeout, tuple(record.tags), record.trace)
    return [
        record.id,
        record.queue,
        str(int(record.priority)),
        _float(record.run_at),
        _run_hex(record.run_at),
        record.unique_key or "",
        _float(record.unique_until),
        record.name,
        str(record.attempt),
        str(record.max_attempts),
        _json_encoder.encode(record.errors),
        _float(record.enqueued_at),
        _static_encoder.encode(static),
    ]


def _without_password(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def _number(value: bytes | None) -> float | None:
    return None if value is None else float(value)


def _record(job_id: bytes | str, row: Sequence[Any]) -> JobRecord:
    n, q, p, ra, a, ma, uk, uu, s, e, ea, sa, fa, w, lu, c, x = row
    args, timeout, tags, trace = _static_decoder.decode(x)
    return JobRecord(
        id=job_id if isinstance(job_id, str) else job_id.decode(),
        name=n.decode(),
        queue=q.decode(),
        args=args,
        priority=int(p),
        run_at=float(ra),
        attempt=int(a),
        max_attempts=int(ma),
        timeout=timeout,
        unique_key=_text(uk),
        unique_until=_number(uu),
        tags=tags,
        state=JobState(s.decode()),
        errors=_errors_decoder.decode(e),
        enqueued_at=float(ea),
        started_at=_number(sa),
        finished_at=_number(fa),
        worker=_text(w),
        lease_until=_number(lu),
        cancel_requested=c == b"1",
        trace=trace,
    )


def _records(flat: Sequence[Any]) -> list[JobRecord]:
    width = len(_FIELDS) + 1
    return [_record(flat[i], flat[i + 1 : i + width]) for i in range(0, len(flat), width)]


class _Connection:
    """A client and its scripts, for one event loop. Scripts run on a pipelined connection
    of their own (``bastion._redis_pipe``: a third of an enqueue's client CPU was redis-py's
    per-command work) when the backend made the client from a URL; BLPOP and the rest go
    through redis-py."""

    def __init__(
        self, client: Redis, pipe: RedisPipe | None, prefix: str, keep_succeeded: float | None
    ) -> None:
        self.client = client
        self.pipe = pipe
        keep = "nil" if keep_succeeded is None else repr(float(keep_succeeded))
        prelude = _PRELUDE.replace("$KEEP", keep)
        self.sources = {name: prelude + source for name, source in _SCRIPTS.items()}
        self.scripts = {name: client.register_script(s) for name, s in self.sources.items()}
        self.lead = client.register_script(_LEAD)
        self.prefix = prefix

    async def run(self, name: str, *args: Any) -> Any:
        script = self.scripts[name]
        if self.pipe is None:
            return await script(args=[self.prefix, *args])
        return await self.pipe.evalsha(script.sha, self.sources[name], [], [self.prefix, *args])

    async def close(self) -> None:
        if self.pipe is not None:
            await self.pipe.close()
        await self.client.aclose()


class RedisJobsBackend:
    """``RedisJobsBackend("redis://localhost:6379/0")``, or ``RedisJobsBackend(client=redis)``.

    Every worker and app process uses the same server and ``prefix``. Not transactional:
    a job enqueued inside a database transaction is sent when it commits (``on_commit``).
    Succeeded jobs are forgotten ``keep_succeeded`` seconds after they finish (a day; None
    keeps them until ``bastion jobs purge``), so Redis' memory does not grow with every job
    run; failed and cancelled jobs stay for inspection and retry until purged.
    With a URL, a client is made per event loop (a test client and the server may run the app
    in different loops); a client passed in is the caller's to close.
    """

    transactional = False

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Redis | None = None,
        prefix: str = "bastion:jobs:",
        keep_succeeded: float | None = 86_400.0,
    ) -> None:
        if (url is None) == (client is None):
            raise ConfigurationError(
                "RedisJobsBackend needs exactly one of url='redis://host:6379/0' or "
                "client=Redis(...)"
            )
        if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigurationError(
                f"RedisJobsBackend needs a redis://, rediss:// or unix:// URL, got {url!r}"
            )
        try:
            import redis.asyncio  # noqa: F401
        except ImportError:
            raise ConfigurationError(
                "The Redis jobs backend needs redis-py: pip install 'bastion[redis]'"
            ) from None
        if keep_succeeded is not None and not keep_succeeded > 0:
            raise ConfigurationError(
                f"RedisJobsBackend(keep_succeeded={keep_succeeded!r}): give a number of "
                "seconds above 0, or None to keep succeeded jobs until purged"
            )
        self.url = url
        self.prefix = prefix
        self.keep_succeeded = keep_succeeded
        self._given = client
        self._connections: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Connection]
        self._connections = weakref.WeakKeyDictionary()

    def _connection(self) -> _Connection:
        loop = asyncio.get_running_loop()
        found = self._connections.get(loop)
        if found is None:
            from redis.asyncio import Redis

            client = self._given or Redis.from_url(str(self.url))
            pipe = None if self._given is not None else _pipe(str(self.url))
            found = _Connection(client, pipe, self.prefix, self.keep_succeeded)
            self._connections[loop] = found
        return found

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect and check that the server answers (idempotent)."""
        from redis.exceptions import RedisError

        try:
            await self._connection().client.ping()
        except (RedisError, OSError) as exc:
            where = _without_password(self.url) if self.url else "the Redis client given"
            raise ConfigurationError(
                f"The Redis jobs backend cannot reach {where} ({exc}): start Redis there, "
                "or give JobsPlugin(backend=...) the URL of a running server"
            ) from exc

    async def stop(self) -> None:
        """Close the clients this backend made; the jobs stay in Redis."""
        connections, self._connections = self._connections, weakref.WeakKeyDictionary()
        loop = asyncio.get_running_loop()
        for owner, connection in list(connections.items()):
            if connection.client is not self._given and owner is loop:
                await connection.close()

    # -- producing -----------------------------------------------------------------------------
    async def enqueue(self, records: Sequence[JobRecord], *, session: Any = None) -> list[str]:
        if session is not None:
            raise ConfigurationError(
                "RedisJobsBackend is not transactional: enqueue after the commit "
                "(bastion.db.on_commit) instead of passing session="
            )
        connection = self._connection()
        now = _float(time.time())
        ids: list[str] = []
        for start in range(0, len(records), _BATCH):
            chunk = records[start : start + _BATCH]
            args: list[str | bytes] = [now, str(len(chunk))]
            for record in chunk:
                args.extend(_enqueue_args(record))
            ids.extend(i.decode() for i in await connection.run("enqueue", *args))
        return ids

    # -- working -------------------------------------------------------------------------------
    async def claim(
        self, queues: Sequence[str], limit: int, *, worker: str, lease: float
    ) -> list[JobRecord]:
        if limit <= 0 or not queues:
            return []
        now = time.time()
        names = list(dict.fromkeys(queues))
        flat = await self._connection().run(
            "claim", _float(now), str(limit), worker, _float(now + lease), *names
        )
        return _records(flat)

    async def wait(self, queues: Sequence[str], seconds: float) -> None:
        """Block on the queues' wake-up lists (BLPOP), at most until the next scheduled job.

        Bounded by ``seconds`` even while Redis is away (redis-py retries commands through
        reconnections): then it returns, and the worker's next claim meets the error."""
        if seconds <= 0 or not queues:
            return
        from redis.exceptions import RedisError

        client = self._connection().client
        names = list(dict.fromkeys(queues))
        started = time.monotonic()
        try:
            async with asyncio.timeout(seconds + 0.25):
                async with client.pipeline(transaction=False) as pipe:
                    for queue in names:
                        pipe.zrange(f"{self.prefix}s:{queue}", 0, 0, withscores=True)
                    firsts = await pipe.execute()
                due = min((entries[0][1] for entries in firsts if entries), default=None)
                end = time.time() + seconds - (time.monotonic() - started)
                tick = 0.0
                if due is not None and due <= end:  # Redis ends a BLPOP on its clock's tick
                    end, tick = due, _TICK
                block = end - time.time() - tick
                keys = [f"{self.prefix}w:{queue}" for queue in names]
                # (BLPOP would read a 0 ms timeout as "forever")
                if block >= 0.002 and await client.blpop(keys, timeout=round(block, 3)):
                    return  # woken: a job was made available
                if tick:  # the last moments before the job is due, on this process's clock
                    await asyncio.sleep(max(0.0, end - time.time()))
        except TimeoutError:
            return
        except (RedisError, OSError):  # refused at once: pause instead of spinning
            await asyncio.sleep(max(0.0, min(seconds, 1.0) - (time.monotonic() - started)))

    async def extend(self, ids: Sequence[str], *, worker: str, lease: float) -> set[str]:
        if not ids:
            return set()
        until = _float(time.time() + lease)
        cancelled = await self._connection().run("extend", worker, until, *ids)
        return {i.decode() for i in cancelled}

    async def succeed(self, job_id: str, *, worker: str) -> None:
        await self._finish(job_id, worker, "succeed", None, None)

    async def succeed_many(self, ids: Sequence[str], *, worker: str) -> None:
        """One finish script per job, sent as one pipeline: one round trip."""
        if not ids:
            return
        connection = self._connection()
        now = time.time()
        args: list[str | bytes] = [_float(now), "", worker, "succeed", b"", _float(now)]
        args.append(_run_hex(now))
        finish = connection.scripts["finish"]
        async with connection.client.pipeline(transaction=False) as pipe:
            for job_id in ids:
                args[1] = job_id
                await finish(args=[connection.prefix, *args], client=pipe)
            await pipe.execute()

    async def retry(self, job_id: str, *, worker: str, run_at: float, error: str) -> None:
        await self._finish(job_id, worker, "retry", error, run_at)

    async def fail(self, job_id: str, *, worker: str, error: str) -> None:
        await self._finish(job_id, worker, "fail", error, None)

    async def _finish(
        self, job_id: str, worker: str, action: str, error: str | None, run_at: float | None
    ) -> None:
        now = time.time()
        when = now if run_at is None else run_at
        await self._connection().run(
            "finish",
            _float(now),
            job_id,
            worker,
            action,
            b"" if error is None else _json_encoder.encode(error),
            _float(when),
            _run_hex(when),
        )

    async def release(self, ids: Sequence[str], *, worker: str) -> None:
        if ids:
            await self._connection().run("release", _float(time.time()), worker, *ids)

    async def rescue(self) -> int:
        connection = self._connection()
        total = 0
        while True:
            count = int(await connection.run("rescue", _float(time.time()), str(_BATCH)))
            total += count
            if count < _BATCH:
                return total

    # -- operating -----------------------------------------------------------------------------
    async def cancel(self, job_id: str) -> bool:
        return bool(await self._connection().run("cancel", _float(time.time()), job_id))

    async def requeue(self, job_id: str) -> bool:
        now = time.time()
        return bool(await self._connection().run("requeue", _float(now), job_id, _run_hex(now)))

    async def get(self, job_id: str) -> JobRecord | None:
        row = await self._connection().client.hmget(f"{self.prefix}j:{job_id}", _FIELDS)
        return None if row[8] is None else _record(job_id, row)

    async def list(
        self,
        *,
        state: JobState | None = None,
        queue: str | None = None,
        name: str | None = None,
        limit: int = 50,
    ) -> list[JobRecord]:
        connection = self._connection()
        found: list[JobRecord] = []
        start = 0
        while len(found) < limit and start >= 0:
            flat = await connection.run(
                "list",
                state.value if state is not None else "",
                queue or "",
                name or "",
                str(limit - len(found)),
                str(start),
                "2000",
            )
            start = int(flat[0])
            found.extend(_records(flat[1:]))
        return found

    async def counts(self) -> dict[tuple[str, JobState], int]:
        client = self._connection().client
        names = await client.smembers(f"{self.prefix}queues")
        queues = sorted(q.decode() if isinstance(q, bytes) else q for q in names)
        if not queues:
            return {}
        p = self.prefix
        async with client.pipeline(transaction=False) as pipe:
            for q in queues:
                pipe.zcard(f"{p}q:{q}")
                pipe.zcard(f"{p}s:{q}")
                pipe.zcard(f"{p}r:{q}")
                for state in _FINISHED_STATES:
                    pipe.zcard(f"{p}d:{q}:{state.value}")
            sizes = await pipe.execute()
        counts: dict[tuple[str, JobState], int] = {}
        per_queue = 3 + len(_FINISHED_STATES)
        for index, q in enumerate(queues):
            ready, scheduled, running, *finished = sizes[
                index * per_queue : (index + 1) * per_queue
            ]
            by_state = [(JobState.PENDING, ready + scheduled), (JobState.RUNNING, running)]
            by_state += zip(_FINISHED_STATES, finished, strict=True)
            for state, count in by_state:
                if count:
                    counts[(q, state)] = count
        return counts

    async def purge(self, *, states: Sequence[JobState], older_than: float) -> int:
        finished = [JobState(s).value for s in states if JobState(s) in _FINISHED_STATES]
        if not finished:
            return 0
        connection = self._connection()
        total = 0
        while True:
            now = _float(time.time())
            count = int(
                await connection.run("purge", _float(older_than), str(_BATCH), now, *finished)
            )
            total += count
            if count < _BATCH:
                return total

    async def lead(self, name: str, *, holder: str, ttl: float) -> bool:
        connection = self._connection()
        key = f"{self.prefix}lock:{name}"
        ms = str(max(1, round(ttl * 1000)))
        return bool(await connection.lead(args=[key, holder, ms]))


def _pipe(url: str) -> RedisPipe | None:
    """Scripts' pipelined connection, when hiredis is installed (the ``redis`` extra)."""
    try:
        from bastion._redis_pipe import RedisPipe
    except ImportError:
        return None
    return RedisPipe.for_url(url, None)
