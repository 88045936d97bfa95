/**
 * The retained log of recent facts beside the Redis channel, for a subscriber that starts
 * after a revocation: a sorted set of facts scored by the time they were written, trimmed
 * to a window, and a marker that says the log is complete for that window. Both keys share
 * one hash tag, so every script here runs on a single Cluster node.
 */
import { randomBytes } from 'node:crypto'
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

/**
 * Lua that adds the entries `ARGV[first..]` to `KEYS[1]` at score `ARGV[1]` (a thousand
 * words per ZADD: Lua's `unpack` has a limit), then drops those scored below `ARGV[2]` and
 * sets the key to expire in `ARGV[3]` ms.
 */
const addEntries = (first: number) => `
local batch = {}
for i = ${first}, #ARGV do
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
`

// KEYS: log. ARGV: score, cutoff, window in ms, channel, payload, then the entries.
const APPEND = redisScript(`${addEntries(6)}
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`)

// KEYS: log, ready, guard. ARGV: score, cutoff, window in ms, which part ('first', 'next',
// 'last' or 'only'), then the entries. A part after the first that finds no guard went to
// a Redis that restarted since: it writes nothing and answers 0.
const SEED_PART = redisScript(`
local part = ARGV[4]
if part == 'first' then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
elseif part ~= 'only' and redis.call('EXISTS', KEYS[3]) == 0 then
  return 0
end
${addEntries(5)}
if part == 'last' or part == 'only' then
  redis.call('SET', KEYS[2], ARGV[1])
  redis.call('DEL', KEYS[3])
end
return 1
`)

/**
 * Facts per part of a seed: one script of a few milliseconds each, where a whole window of
 * a mass revocation in one script held Redis for longer than a command may take.
 */
const SEED_PART_FACTS = 5000

// KEYS: ready, log. ARGV: the lowest score wanted. Nil while the marker is missing.
const READ = redisScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[1], '+inf')
`)

// KEYS: ready (it only routes the script). ARGV: channel, payload.
const PUBLISH = redisScript(`return redis.call('PUBLISH', ARGV[1], ARGV[2])`)

const unexpectedReply = () => new Error('The revocation log answered an unexpected reply')

/** When facts are written and how long they are kept. */
export interface LogWindow {
  now: number
  windowMs: number
}

/**
 * Adds `facts` and publishes `payload` on `channel` in the same script, so that no
 * subscriber sees a fact the log lacks. Entries older than the window go; the key itself
 * expires once nothing has been written for a window, when every entry would be too old
 * anyway.
 */
export async function appendToLog(
  client: RedisClient,
  keys: LogKeys,
  facts: readonly RevocationFact[],
  { now, windowMs, channel, payload }: LogWindow & { channel: string; payload: string },
): Promise<void> {
  const reply = await APPEND(
    client,
    [keys.log],
    [now, now - windowMs, windowMs, channel, payload, ...facts.map(logEntry)],
  )
  if (reply !== 1) throw unexpectedReply()
}

/**
 * Writes the facts the store holds for the window, in parts, and with the last part the
 * marker that says the log is complete. Should Redis restart between two parts (the log
 * then holds only the later ones), the seed fails without writing the marker.
 */
export async function seedLog(
  client: RedisClient,
  keys: LogKeys,
  facts: readonly RevocationFact[],
  { now, windowMs }: LogWindow,
): Promise<void> {
  const guard = `${keys.ready}:seeding:${randomBytes(9).toString('base64url')}`
  const parts = Math.max(1, Math.ceil(facts.length / SEED_PART_FACTS))
  for (let index = 0; index < parts; index++) {
    const part =
      parts === 1 ? 'only' : index === 0 ? 'first' : index === parts - 1 ? 'last' : 'next'
    const entries = facts
      .slice(index * SEED_PART_FACTS, (index + 1) * SEED_PART_FACTS)
      .map(logEntry)
    const reply = await SEED_PART(
      client,
      [keys.log, keys.ready, guard],
      [now, now - windowMs, windowMs, part, ...entries],
    )
    if (reply === 0) throw new Error('Redis restarted while the revocation log was seeded')
    if (reply !== 1) throw unexpectedReply()
  }
}

/** Publishes `payload` on `channel` from the node that holds the log. */
export async function publishThroughLog(
  client: RedisClient,
  keys: LogKeys,
  channel: string,
  payload: string,
): Promise<void> {
  const reply = await PUBLISH(client, [keys.ready], [channel, payload])
  if (typeof reply !== 'number') throw unexpectedReply()
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
  if (!Array.isArray(entries)) throw unexpectedReply()
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
