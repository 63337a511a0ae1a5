"""The Lua scripts of the Redis coordinator, and their registration on a client.

Every change to a group's state is one of these scripts, so two hosts
writing at once merge rather than overwrite, and "last arrival opens the
barrier" cannot be decided twice. The key layout they work on is described
in redis.py.
"""

from __future__ import annotations

import redis
from redis.commands.core import Script

__all__ = [
    "GEN_FIELD",
    "LUA_ABANDON",
    "LUA_ARRIVE",
    "LUA_INIT",
    "LUA_LEAVE",
    "LUA_SEND",
    "LUA_STUCK",
    "LUA_UNWAITING",
    "LUA_WAITING",
    "Scripts",
]

GEN_FIELD = b"#gen"  # '#' is not allowed in device names, so this field never names a device

# Shared by every write script: list the touched keys in the index and keep
# every key of the group expiring with the index. Pushing the whole group's
# expiry forward touches every key, so it is done only once a tenth of the ttl
# has passed since the last time (or when ``whole`` asks): a send stays O(1)
# however many message IDs the group holds, and a group still lives at least
# 0.9 ttl after its last write.
_REFRESH = """
local function refresh(index, ttl, touched, whole)
  for _, key in ipairs(touched) do redis.call('SADD', index, key) end
  ttl = tonumber(ttl)
  local remaining = redis.call('PTTL', index)
  if whole or remaining < 0 or remaining < ttl - math.floor(ttl / 10) then
    for _, key in ipairs(redis.call('SMEMBERS', index)) do redis.call('PEXPIRE', key, ttl) end
    redis.call('PEXPIRE', index, ttl)
  else
    for _, key in ipairs(touched) do redis.call('PEXPIRE', key, remaining) end
  end
end
"""

# KEYS: members, left, index. ARGV: members json, ttl ms, number of members,
# grace ms, the prefix of end_group's reasons.
# A group whose members have all left is over: the next run of the same job
# (same group name) starts it afresh instead of finding everyone gone. Not
# when some were sent away by end_group() less than the grace ago: that may be
# this very run, ended by a failure on another host before this one joined.
LUA_INIT = (
    _REFRESH
    + """
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return current end
if current and redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[3]) then
  local ended = false
  for _, why in ipairs(redis.call('HVALS', KEYS[2])) do
    if string.sub(why, 1, string.len(ARGV[5])) == ARGV[5] then ended = true end
  end
  local idle = tonumber(ARGV[2]) - redis.call('PTTL', KEYS[2])
  if not ended or idle >= tonumber(ARGV[4]) then
    for _, key in ipairs(redis.call('SMEMBERS', KEYS[3])) do redis.call('DEL', key) end
    redis.call('DEL', KEYS[2], KEYS[3])
  end
end
redis.call('SET', KEYS[1], ARGV[1])
refresh(KEYS[3], ARGV[2], {KEYS[1], KEYS[2]})
return false
"""
)

# KEYS: msg, left, index, ids. ARGV: sender, ttl ms, channel, most message IDs, then field, value pairs.
# Returns false, or {'left', reason}, or {'full'} when the group holds the most
# message IDs it may and this one is new (``ids`` names every msg key).
LUA_SEND = (
    _REFRESH
    + """
local reason = redis.call('HGET', KEYS[2], ARGV[1])
if reason then return {'left', reason} end
if redis.call('SISMEMBER', KEYS[4], KEYS[1]) == 0 then
  if redis.call('SCARD', KEYS[4]) >= tonumber(ARGV[4]) then return {'full'} end
  redis.call('SADD', KEYS[4], KEYS[1])
end
redis.call('HSET', KEYS[1], ARGV[1] .. '\\0', '')
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
refresh(KEYS[3], ARGV[2], {KEYS[1], KEYS[4]})
redis.call('PUBLISH', ARGV[3], 'send')
return false
"""
)

# A sync key exists only while some device is at the barrier, so syncs leave
# nothing behind. ``#gen`` names the round: a token the first arrival brings,
# never reused, so a waiter of a round that opened (its key deleted) is not
# held by a next round of the same ID that a fast device started meanwhile.

# KEYS: sync, left, index. ARGV: device, group size, ttl ms, channel, a new round's token.
# Returns {status, round}: status 'left' (round is the reason), 'already',
# 'done' (this arrival opened the barrier) or 'wait'.
LUA_ARRIVE = (
    _REFRESH
    + """
local reason = redis.call('HGET', KEYS[2], ARGV[1])
if reason then return {'left', reason} end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {'already', ''} end
redis.call('HSETNX', KEYS[1], '#gen', ARGV[5])
local generation = redis.call('HGET', KEYS[1], '#gen')
redis.call('HSET', KEYS[1], ARGV[1], '1')
if redis.call('HLEN', KEYS[1]) - 1 >= tonumber(ARGV[2]) then
  -- Last to arrive: the barrier opens, and is forgotten.
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[3], KEYS[1])
  refresh(KEYS[3], ARGV[3], {})
  redis.call('PUBLISH', ARGV[4], 'sync')
  return {'done', generation}
end
refresh(KEYS[3], ARGV[3], {KEYS[1]})
return {'wait', generation}
"""
)

# KEYS: sync, left, index. ARGV: device, the round it arrived in.
# A caller that gave up is no longer at the barrier, unless it left the group
# (a departed device's arrival still counts). Returns {status, arrived...}:
# 'completed' when the round opened meanwhile, else 'removed' or 'kept'.
# A barrier nobody is at any more is forgotten.
LUA_ABANDON = """
local generation = redis.call('HGET', KEYS[1], '#gen')
if generation ~= ARGV[2] then return {'completed'} end
local status = 'kept'
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 and redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  status = 'removed'
end
local result = {status}
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if field ~= '#gen' then table.insert(result, field) end
end
if #result == 1 then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[3], KEYS[1])
end
return result
"""

# KEYS: left, index. ARGV: device, reason, ttl ms, channel. The first reason is kept.
LUA_LEAVE = (
    _REFRESH
    + """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
-- Whole: LUA_INIT reads how long ago the last device left from the expiry of ``left``.
refresh(KEYS[2], ARGV[3], {KEYS[1]}, true)
redis.call('PUBLISH', ARGV[4], 'leave')
return 1
"""
)

# Who waits for what, on every host: ``waits`` maps a device to its blocked
# call, as "call\nrole\ntoken\nmessage_id" (the token tells this call's entry
# from a later one of the same device; the ID goes last, whatever it holds).

# KEYS: waits, index. ARGV: device, entry, ttl ms, channel.
LUA_WAITING = (
    _REFRESH
    + """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
refresh(KEYS[2], ARGV[3], {KEYS[1]})
redis.call('PUBLISH', ARGV[4], 'wait')
return 1
"""
)

# KEYS: waits. ARGV: device, entry, channel. Only the entry this call wrote.
LUA_UNWAITING = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[3], 'unwait')
return 1
"""

# KEYS: waits, left. ARGV: group size, key prefix. Read only: one consistent
# snapshot of what rules.stuck_report needs, or false at once when fewer calls
# wait than devices are still in the group (the usual case).
# Returns {waits, left, fields}: the two hashes flat, and for each entry of
# waits the fields of the key it waits on (its msg: or sync: hash).
LUA_STUCK = """
local waits = redis.call('HGETALL', KEYS[1])
local left = redis.call('HGETALL', KEYS[2])
if #waits / 2 < tonumber(ARGV[1]) - #left / 2 then return false end
local fields = {}
for i = 2, #waits, 2 do
  local call, id = string.match(waits[i], '^([^\\n]*)\\n[^\\n]*\\n[^\\n]*\\n(.*)$')
  local kind = 'msg:'
  if call == 'lava-sync' then kind = 'sync:' end
  table.insert(fields, redis.call('HKEYS', ARGV[2] .. kind .. id))
end
return {waits, left, fields}
"""


class Scripts:
    """Every script registered on one client: redis-py sends each by its SHA and loads it when the server lacks it."""

    def __init__(self, client: redis.Redis) -> None:
        self.init: Script = client.register_script(LUA_INIT)
        self.send: Script = client.register_script(LUA_SEND)
        self.arrive: Script = client.register_script(LUA_ARRIVE)
        self.abandon: Script = client.register_script(LUA_ABANDON)
        self.leave: Script = client.register_script(LUA_LEAVE)
        self.waiting: Script = client.register_script(LUA_WAITING)
        self.unwaiting: Script = client.register_script(LUA_UNWAITING)
        self.stuck: Script = client.register_script(LUA_STUCK)
