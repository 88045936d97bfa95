/**
 * Rate-limit counters in Redis. The window follows the caller's `now`, as in every store:
 * the count resets once `now` reaches the stored reset time. The key's expiry only
 * reclaims memory; it never ends a window. Each script touches one key: atomic, and at
 * home on any Cluster node.
 */
import type { RateLimitHit } from '../contract.js'
import type { RedisClient } from './connection.js'
import { redisScript } from './script.js'

const HIT = redisScript(`
local resetAt = tonumber(redis.call('HGET', KEYS[1], 'resetAt'))
if resetAt == nil or tonumber(ARGV[1]) >= resetAt then
  redis.call('HSET', KEYS[1], 'count', 1, 'resetAt', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, ARGV[3]}
end
return {redis.call('HINCRBY', KEYS[1], 'count', 1), redis.call('HGET', KEYS[1], 'resetAt')}
`)

// Checked inside the script, so a window that a hit has just restarted is never lost.
const DELETE_ENDED = redisScript(`
local resetAt = tonumber(redis.call('HGET', KEYS[1], 'resetAt'))
if resetAt ~= nil and resetAt <= tonumber(ARGV[1]) then return redis.call('DEL', KEYS[1]) end
return 0
`)

/** Counts one hit on `key` in Redis, in a fixed window that starts with the first hit. */
export async function hitRedisRateLimit(
  redis: RedisClient,
  key: string,
  windowMs: number,
  now: number,
): Promise<RateLimitHit> {
  const ttl = Math.max(1, Math.ceil(windowMs))
  const reply = await HIT(redis, [key], [String(now), String(ttl), String(now + windowMs)])
  if (!Array.isArray(reply) || reply.length !== 2) throw new Error('Unexpected rate-limit reply.')
  const count = Number(reply[0])
  const resetAt = Number(reply[1])
  if (!Number.isFinite(count) || !Number.isFinite(resetAt)) {
    throw new Error('Unexpected rate-limit reply.')
  }
  return { count, resetAt }
}

/**
 * Deletes the counters under `prefix` whose window ended by `now`; returns how many.
 * A SCAN of every primary: for the periodic clean-up, never for a request.
 */
export async function deleteEndedRateLimits(
  redis: RedisClient,
  prefix: string,
  now: number,
): Promise<number> {
  const nodes = 'nodes' in redis ? redis.nodes('master') : [redis]
  const match = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`
  let deleted = 0
  for (const node of nodes) {
    let cursor = '0'
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 500)
      for (const key of keys) deleted += Number(await DELETE_ENDED(redis, [key], [String(now)]))
      cursor = next
    } while (cursor !== '0')
  }
  return deleted
}
