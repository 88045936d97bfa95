import { createHash } from 'node:crypto'
import type { RedisClient } from './connection.js'

/**
 * A Lua script run by its digest. A script is one command: atomic, sent to the Cluster node
 * of its keys (which must share a slot), and answered by one reply. Several commands that
 * must go together are a script, never a MULTI: on a Cluster, ioredis retries a MULTI whose
 * connection closed under it in a way that lets replies answer the wrong commands. Sent as
 * the slot's master died, one resolved as done though nothing of it had run.
 */
export type RedisScript = (
  redis: RedisClient,
  keys: readonly string[],
  args: readonly (string | number)[],
) => Promise<unknown>

export function redisScript(source: string): RedisScript {
  const sha = createHash('sha1').update(source).digest('hex')
  return async (redis, keys, args) => {
    // One array, never spread into the call: a seed of the log may carry 100 000s of facts.
    const words = [...keys, ...args.map(String)]
    try {
      return await redis.evalsha(sha, keys.length, words)
    } catch (error) {
      // A Redis that restarted has forgotten the script; EVAL loads it again.
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
      return redis.eval(source, keys.length, words)
    }
  }
}
