/// The Lua scripts behind the shared (Redis) state. Each runs atomically in Redis, so a load sees
/// one consistent moment and a commit either applies everything or nothing (its checks come
/// before its first write).
///
/// Keys, all under one prefix: `call:<id>` (hash: `v` version, `s` state), `calls` (set of live
/// ids), `seen:<hex>` (webhook ids, expiring), `trace:<id>` and `rec:<id>` (finished traces and
/// recorded inputs, expiring), `outbox` (hash seq → command) + `outbox:seq`, `http` (hash id →
/// request), `claims` (sorted set: `o:<seq>` / `h:<id>` → claim deadline in ms), `timers` (sorted
/// set id → fire time in ms) + `timer:call`, `dial:<token>`, `revisions` (hash revision → files),
/// `agents` (hash agent address → the call that holds it: a ring group's leg ringing or talking),
/// `conferences` (hash conference name → `<creating call>|<conference id>`, the id empty while created).
package enum SharedScripts {
    /// ARGV: prefix, n, n call ids, dial token, seen key, timer id (`""` when absent).
    /// Returns: n × [version, state], dial, seen (0/1), timer pending (0/1), agents held (flat
    /// agent, call list; one hash per deployment, as small as its roster), conferences (flat name,
    /// `call|id` list).
    package static let load = """
        local p = ARGV[1]
        local n = tonumber(ARGV[2])
        local out = {}
        for i = 1, n do
          local r = redis.call('HMGET', p .. 'call:' .. ARGV[2 + i], 'v', 's')
          out[i] = {r[1] or '0', r[2] or ''}
        end
        local dial, seen, timer = ARGV[3 + n], ARGV[4 + n], ARGV[5 + n]
        out[n + 1] = (dial ~= '' and redis.call('GET', p .. 'dial:' .. dial)) or ''
        out[n + 2] = (seen ~= '' and redis.call('EXISTS', p .. 'seen:' .. seen) == 1) and 1 or 0
        out[n + 3] = (timer ~= '' and redis.call('ZSCORE', p .. 'timers', timer)) and 1 or 0
        out[n + 4] = redis.call('HGETALL', p .. 'agents')
        out[n + 5] = redis.call('HGETALL', p .. 'conferences')
        return out
        """

    /// ARGV: prefix, now (ms), seen key, dedupe ttl (s), trace ttl (s), lease (ms), then counted
    /// sections: checks (id, version), agents taken (agent, call: refused when another call holds
    /// the agent), conference names set (name, call, id: refused when another call holds the
    /// name), puts (id, state), ends (id, trace), outbox (command),
    /// timers added (id, call, fire ms), timers removed (id), http added (id, request),
    /// http removed (id), dials removed (token), records (call, entry), agents released (agent, call),
    /// dials expected (token, dial: a callback's, whose `dial` command is in this commit's outbox),
    /// conference names released (name, call).
    /// Returns `{'ok', seq...}`, `{'conflict'}` or `{'duplicate'}`.
    package static let commit = """
        local p, now = ARGV[1], tonumber(ARGV[2])
        local seen, dedupeTTL, traceTTL, lease = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
        local i = 7
        local function count() local c = tonumber(ARGV[i]); i = i + 1; return c end
        for _ = 1, count() do
          local v = redis.call('HGET', p .. 'call:' .. ARGV[i], 'v') or '0'
          if v ~= ARGV[i + 1] then return {'conflict'} end
          i = i + 2
        end
        local takes = {}
        for _ = 1, count() do
          local holder = redis.call('HGET', p .. 'agents', ARGV[i])
          if holder and holder ~= ARGV[i + 1] then return {'conflict'} end
          takes[#takes + 1] = {ARGV[i], ARGV[i + 1]}
          i = i + 2
        end
        local names = {}
        for _ = 1, count() do
          local held = redis.call('HGET', p .. 'conferences', ARGV[i])
          if held and string.sub(held, 1, #ARGV[i + 1] + 1) ~= ARGV[i + 1] .. '|' then return {'conflict'} end
          names[#names + 1] = {ARGV[i], ARGV[i + 1] .. '|' .. ARGV[i + 2]}
          i = i + 3
        end
        if seen ~= '' and not redis.call('SET', p .. 'seen:' .. seen, '1', 'NX', 'EX', dedupeTTL) then return {'duplicate'} end
        for _ = 1, count() do
          redis.call('HINCRBY', p .. 'call:' .. ARGV[i], 'v', 1)
          redis.call('HSET', p .. 'call:' .. ARGV[i], 's', ARGV[i + 1])
          redis.call('SADD', p .. 'calls', ARGV[i])
          i = i + 2
        end
        for _ = 1, count() do
          redis.call('DEL', p .. 'call:' .. ARGV[i])
          redis.call('SREM', p .. 'calls', ARGV[i])
          if traceTTL > 0 then
            redis.call('SET', p .. 'trace:' .. ARGV[i], ARGV[i + 1], 'EX', traceTTL)
            redis.call('EXPIRE', p .. 'rec:' .. ARGV[i], traceTTL)
          else
            redis.call('DEL', p .. 'rec:' .. ARGV[i])
          end
          i = i + 2
        end
        local out = {'ok'}
        for _ = 1, count() do
          local seq = redis.call('INCR', p .. 'outbox:seq')
          redis.call('HSET', p .. 'outbox', seq, ARGV[i])
          redis.call('ZADD', p .. 'claims', now + lease, 'o:' .. seq)
          out[#out + 1] = seq
          i = i + 1
        end
        for _ = 1, count() do
          redis.call('ZADD', p .. 'timers', ARGV[i + 2], ARGV[i])
          redis.call('HSET', p .. 'timer:call', ARGV[i], ARGV[i + 1])
          i = i + 3
        end
        for _ = 1, count() do
          redis.call('ZREM', p .. 'timers', ARGV[i])
          redis.call('HDEL', p .. 'timer:call', ARGV[i])
          i = i + 1
        end
        for _ = 1, count() do
          redis.call('HSET', p .. 'http', ARGV[i], ARGV[i + 1])
          redis.call('ZADD', p .. 'claims', now + lease, 'h:' .. ARGV[i])
          i = i + 2
        end
        for _ = 1, count() do
          redis.call('HDEL', p .. 'http', ARGV[i])
          redis.call('ZREM', p .. 'claims', 'h:' .. ARGV[i])
          i = i + 1
        end
        for _ = 1, count() do
          redis.call('DEL', p .. 'dial:' .. ARGV[i])
          i = i + 1
        end
        for _ = 1, count() do
          -- A call this commit ended keeps its inputs only as long as its trace (none with 0).
          local key = p .. 'rec:' .. ARGV[i]
          local live = redis.call('SISMEMBER', p .. 'calls', ARGV[i]) == 1
          if live or traceTTL > 0 then
            redis.call('RPUSH', key, ARGV[i + 1])
            redis.call('LTRIM', key, -300, -1)
            if not live then redis.call('EXPIRE', key, traceTTL) end
          end
          i = i + 2
        end
        for _, t in ipairs(takes) do redis.call('HSET', p .. 'agents', t[1], t[2]) end
        for _ = 1, count() do
          if redis.call('HGET', p .. 'agents', ARGV[i]) == ARGV[i + 1] then redis.call('HDEL', p .. 'agents', ARGV[i]) end
          i = i + 2
        end
        for _ = 1, count() do
          redis.call('SET', p .. 'dial:' .. ARGV[i], ARGV[i + 1], 'EX', 3600)
          i = i + 2
        end
        for _, c in ipairs(names) do redis.call('HSET', p .. 'conferences', c[1], c[2]) end
        for _ = 1, count() do
          local held = redis.call('HGET', p .. 'conferences', ARGV[i])
          if held and string.sub(held, 1, #ARGV[i + 1] + 1) == ARGV[i + 1] .. '|' then redis.call('HDEL', p .. 'conferences', ARGV[i]) end
          i = i + 2
        end
        return out
        """

    /// Takes over work whose claim ran out (its instance died): commands and HTTP requests get a
    /// new lease, and an overdue timer is pushed back so that one instance fires it.
    /// ARGV: prefix, now (ms), lease (ms), timer grace (ms).
    /// Returns a flat list: kind (`o`, `h`, `t`), id, payload (command, request, call).
    package static let claim = """
        local p, now, lease, grace = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
        local out = {}
        for _, m in ipairs(redis.call('ZRANGEBYSCORE', p .. 'claims', '-inf', now, 'LIMIT', 0, 100)) do
          local kind, id = string.sub(m, 1, 1), string.sub(m, 3)
          local blob = redis.call('HGET', p .. (kind == 'o' and 'outbox' or 'http'), id)
          if blob then
            redis.call('ZADD', p .. 'claims', now + lease, m)
            out[#out + 1] = kind; out[#out + 1] = id; out[#out + 1] = blob
          else
            redis.call('ZREM', p .. 'claims', m)
          end
        end
        for _, t in ipairs(redis.call('ZRANGEBYSCORE', p .. 'timers', '-inf', now - grace, 'LIMIT', 0, 100)) do
          local call = redis.call('HGET', p .. 'timer:call', t)
          if call then
            redis.call('ZADD', p .. 'timers', now + lease - grace, t)
            out[#out + 1] = 't'; out[#out + 1] = t; out[#out + 1] = call
          else
            redis.call('ZREM', p .. 'timers', t)
          end
        end
        return out
        """

    /// A call as `GET /v1/calls/{id}` shows it. ARGV: prefix, id. Returns state, trace, inputs.
    package static let document = """
        local p, id = ARGV[1], ARGV[2]
        return {redis.call('HGET', p .. 'call:' .. id, 's') or '', redis.call('GET', p .. 'trace:' .. id) or '',
                redis.call('LRANGE', p .. 'rec:' .. id, 0, -1)}
        """

    /// A command Telnyx answered for good: its outbox entry and claim go.
    /// ARGV: prefix, seq.
    package static let sent = """
        redis.call('HDEL', ARGV[1] .. 'outbox', ARGV[2])
        redis.call('ZREM', ARGV[1] .. 'claims', 'o:' .. ARGV[2])
        return 1
        """
}
