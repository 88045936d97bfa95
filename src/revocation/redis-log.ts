/**
 * The retained log of recent facts beside the Redis channel, for a subscriber that starts
 * after a revocation: a sorted set of facts scored by the time they were written, trimmed
 * to a window, and a marker that says the log is complete for that window. Both keys share
 * one hash tag, so every script here runs on a single Cluster node.
 */
import type { RedisClient } from '../stores/redis/connection.js'
import { redisScript } from '../stores/redis/script.js'
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

// Each step is one script on the log's node, never a MULTI (see `stores/redis/script.ts`).

// KEYS: log, ready. ARGV: score, cutoff (entries scored below it go), window in ms, '1' to
// write the marker, channel ('' for none), payload, then the entries.
const APPEND = redisScript(`
local batch = {}
for i = 7, #ARGV do
  batch[#batch + 1] = ARGV[1]
  batch[#batch + 1] = ARGV[i]
  if #batch == 1000 then
    redis.call('ZADD', KEYS[1], unpack(batch))
    batch = {}
  end
end
if #batch > 0 then redis.call('ZADD', KEYS[1], unpack(batch)) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if ARGV[4] == '1' then redis.call('SET', KEYS[2], ARGV[1]) end
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
return 1
`)

// KEYS: ready, log. ARGV: the lowest score wanted. Nil while the marker is missing.
const READ = redisScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[1], '+inf')
`)

// KEYS: ready (it only routes the script). ARGV: channel, payload.
const PUBLISH = redisScript(`return redis.call('PUBLISH', ARGV[1], ARGV[2])`)

/** Where and when facts are written; `publish` also sends a message from the same script. */
export interface AppendOptions {
  now: number
  windowMs: number
  publish?: { channel: string; payload: string }
}

/**
 * Adds `facts` (and publishes `options.publish` in the same script, so that no subscriber
 * sees a fact the log lacks). Entries older than the window go; the key itself expires once
 * nothing has been written for a window, when every entry would be too old anyway.
 */
export function appendToLog(
  client: RedisClient,
  keys: LogKeys,
  facts: readonly RevocationFact[],
  options: AppendOptions,
): Promise<void> {
  return append(client, keys, facts, options, false)
}

/** Writes the facts the store holds for the window and the marker that says so, at once. */
export function seedLog(
  client: RedisClient,
  keys: LogKeys,
  facts: readonly RevocationFact[],
  options: { now: number; windowMs: number },
): Promise<void> {
  return append(client, keys, facts, options, true)
}

async function append(
  client: RedisClient,
  keys: LogKeys,
  facts: readonly RevocationFact[],
  { now, windowMs, publish }: AppendOptions,
  mark: boolean,
): Promise<void> {
  const reply = await APPEND(
    client,
    [keys.log, keys.ready],
    [
      now,
      now - windowMs,
      windowMs,
      mark ? '1' : '0',
      publish?.channel ?? '',
      publish?.payload ?? '',
      ...facts.map(logEntry),
    ],
  )
  if (reply !== 1) throw new Error('The revocation log answered an unexpected reply')
}

/** Publishes `payload` on `channel` from the node that holds the log. */
export async function publishThroughLog(
  client: RedisClient,
  keys: LogKeys,
  channel: string,
  payload: string,
): Promise<void> {
  const reply = await PUBLISH(client, [keys.ready], [channel, payload])
  if (typeof reply !== 'number') throw new Error('The revocation log answered an unexpected reply')
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
  const entries = await READ(client, [keys.ready, keys.log], [since])
  if (entries === null) return null
  if (!Array.isArray(entries)) throw new Error('The revocation log answered an unexpected reply')
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
