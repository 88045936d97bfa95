/**
 * The retained log of recent facts beside the Redis channel, for a subscriber that starts
 * after a revocation: a sorted set of facts scored by the time they were written, trimmed
 * to a window, and a marker that says the log is complete for that window. Both keys share
 * one hash tag, so every command here touches a single Cluster slot.
 */
import type { RedisClient } from '../stores/redis/connection.js'
import type { RevocationFact } from './facts.js'
import { decodeMessage, encodeMessage } from './facts.js'

/** The keys of the log of one channel. */
export interface LogKeys {
  log: string
  ready: string
}

/** The keys of `channel`'s log: `{channel}:log` and `{channel}:log-ready`. */
export function logKeys(channel: string): LogKeys {
  return { log: `{${channel}}:log`, ready: `{${channel}}:log-ready` }
}

const CHUNK = 500

/**
 * Adds `facts` (and, when `payload` is given, publishes it on `channel` in the same
 * transaction, so that no subscriber sees a fact the log lacks). Entries older than the
 * window go; the key itself expires once nothing has been written for a window, when every
 * entry would be too old anyway.
 */
export async function appendToLog(
  client: RedisClient,
  keys: LogKeys,
  facts: readonly RevocationFact[],
  options: { now: number; windowMs: number; channel?: string; payload?: string },
): Promise<void> {
  const { now, windowMs } = options
  const multi = client.multi()
  for (let start = 0; start < facts.length; start += CHUNK) {
    const args: (string | number)[] = []
    for (const fact of facts.slice(start, start + CHUNK)) args.push(now, logEntry(fact))
    multi.zadd(keys.log, ...args)
  }
  multi.zremrangebyscore(keys.log, '-inf', `(${now - windowMs}`)
  multi.pexpire(keys.log, windowMs)
  if (options.channel !== undefined && options.payload !== undefined) {
    multi.publish(options.channel, options.payload)
  }
  await execChecked(multi)
}

/** Writes the facts the store holds for the window, then the marker that says so. */
export async function seedLog(
  client: RedisClient,
  keys: LogKeys,
  facts: readonly RevocationFact[],
  options: { now: number; windowMs: number },
): Promise<void> {
  await appendToLog(client, keys, facts, options)
  await client.set(keys.ready, String(options.now))
}

/**
 * The facts of the log written since `since`, or `null` while the marker is missing: a
 * Redis restarted empty holds no history until a server node has seeded it again.
 */
export async function readLog(
  client: RedisClient,
  keys: LogKeys,
  since: number,
): Promise<RevocationFact[] | null> {
  const results = await execChecked(
    client.multi().exists(keys.ready).zrangebyscore(keys.log, since, '+inf'),
  )
  const [ready, entries] = results
  if (ready !== 1) return null
  if (!Array.isArray(entries)) throw new Error('The revocation log answered an unexpected type')
  const facts: RevocationFact[] = []
  for (const entry of entries) {
    const message = typeof entry === 'string' ? decodeMessage(entry) : null
    // A stray entry is skipped, as a stray message on the channel is.
    if (message !== null && 'facts' in message) facts.push(...message.facts)
  }
  return facts
}

// One fact per entry, in the wire form of a message, so that reading reuses the strict
// decoder and the same fact written twice stays one entry.
function logEntry(fact: RevocationFact): string {
  return encodeMessage({ v: 1, origin: 'log', facts: [fact] })
}

async function execChecked(multi: {
  exec(): Promise<[Error | null, unknown][] | null>
}): Promise<unknown[]> {
  const results = await multi.exec()
  if (results === null) throw new Error('The revocation log transaction was aborted')
  return results.map(([error, value]) => {
    if (error !== null) throw error
    return value
  })
}
