/**
 * The retained log of recent facts beside the Redis channel, for a subscriber that starts
 * after a revocation: a sorted set of facts scored by the time they were written, trimmed
 * to a window, and in the same set a marker, scored `+inf`, that says the log is complete
 * for that window. The keys share one hash tag, so every script here runs on a single
 * Cluster node.
 *
 * The marker is a member of the log, not a key of its own, so that a reader needs one
 * plain ZRANGEBYSCORE: the log and the marker in one atomic command. A script reading a
 * marker key and the log held Redis three to four times as long (150,000 facts: 340–440
 * ms against 90–150 ms; 300,000: 0.8–1.1 s against 0.24–0.31 s), and a reader that fails
 * tries again every second. Nor can the log go without its marker: an evicted or deleted
 * log takes the marker along, where a marker key left behind vouched for an empty log.
 */
import { randomBytes } from 'node:crypto'
import type { RedisClient } from '../stores/redis/connection.js'
import { waitForReplicas } from '../stores/redis/connection.js'
import { redisScript } from '../stores/redis/script.js'
import type { RevocationFact } from './facts.js'
import { decodeMessage, encodeMessage } from './facts.js'

/** The key of the log of one channel; a seed's guards are named after it (`seedLog`). */
export interface LogKeys {
  log: string
}

/** The key of `channel`'s log: `{channel}:log`. */
export function logKeys(channel: string): LogKeys {
  return { log: `{${channel}}:log` }
}

/** The log's member that marks it complete; no fact's entry (a JSON object) is this. */
const COMPLETE = 'complete'

// Each write is one script on the log's node, never a MULTI (see `stores/redis/script.ts`).

/**
 * Lua that adds the entries `ARGV[first..]` to `KEYS[1]` at score `ARGV[1]` (a thousand
 * words per ZADD: Lua's `unpack` has a limit), then drops those scored below `ARGV[2]`.
 * The key never expires: the marker must outlast any quiet window, and what the trim
 * leaves is one window of facts at most. PERSIST takes off an expiry that a version
 * keeping its marker apart set on every write; left, it would take the marker with it.
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
redis.call('PERSIST', KEYS[1])
`

// KEYS: log. ARGV: score, cutoff, channel, payload, then the entries. Answers how many
// replicas the node has connected (0 where INFO is not allowed: nothing to wait for).
const APPEND = redisScript(`${addEntries(5)}
redis.call('PUBLISH', ARGV[3], ARGV[4])
local info = redis.pcall('INFO', 'replication')
if type(info) ~= 'string' then return 0 end
return tonumber(string.match(info, 'connected_slaves:(%d+)')) or 0
`)

// KEYS: log, guard. ARGV: score, cutoff, window in ms (the guard's life), which part
// ('first', 'next', 'last' or 'only'), then the entries. A part after the first that finds
// no guard went to a Redis that restarted since: it writes nothing and answers 0.
const SEED_PART = redisScript(`
local part = ARGV[4]
if part == 'first' then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
elseif part ~= 'only' and redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
${addEntries(5)}
if part == 'last' or part == 'only' then
  redis.call('ZADD', KEYS[1], '+inf', '${COMPLETE}')
  redis.call('DEL', KEYS[2])
end
return 1
`)

/**
 * Facts per part of a seed: one script of a few milliseconds each, where a whole window of
 * a mass revocation in one script held Redis for longer than a command may take.
 */
const SEED_PART_FACTS = 5000

// KEYS: log (it only routes the script). ARGV: channel, payload.
const PUBLISH = redisScript(`return redis.call('PUBLISH', ARGV[1], ARGV[2])`)

const unexpectedReply = () => new Error('The revocation log answered an unexpected reply')

/** When facts are written and how long they are kept. */
export interface LogWindow {
  now: number
  windowMs: number
}

/** How an append is published and how long it waits for a replica to hold it. */
export interface AppendOptions extends LogWindow {
  channel: string
  payload: string
  /** The longest an append waits for a replica of the log's node; below the command timeout. */
  replicaWaitMs: number
}

/**
 * Adds `facts` and publishes `payload` on `channel` in the same script, so that no
 * subscriber sees a fact the log lacks. Entries older than the window go.
 *
 * Where the log's node has replicas, the append is done only once one of them holds it
 * (WAIT), and fails when none does within `replicaWaitMs`; the bus then sends it again.
 * Replication is asynchronous: a Cluster master that died just after answering would
 * otherwise leave a replica without the fact to take over the log, and a subscriber that
 * read the log from it would never learn of the revocation.
 */
export async function appendToLog(
  client: RedisClient,
  keys: LogKeys,
  facts: readonly RevocationFact[],
  { now, windowMs, channel, payload, replicaWaitMs }: AppendOptions,
): Promise<void> {
  const replicas = await APPEND(
    client,
    [keys.log],
    [now, now - windowMs, channel, payload, ...facts.map(logEntry)],
  )
  if (typeof replicas !== 'number' || !Number.isSafeInteger(replicas) || replicas < 0) {
    throw unexpectedReply()
  }
  if (replicas === 0) return
  if ((await waitForReplicas(client, keys.log, 1, replicaWaitMs)) < 1) {
    throw new Error('No replica of the revocation log took the facts in time')
  }
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
  const guard = `${keys.log}:seeding:${randomBytes(9).toString('base64url')}`
  const parts = Math.max(1, Math.ceil(facts.length / SEED_PART_FACTS))
  for (let index = 0; index < parts; index++) {
    const part =
      parts === 1 ? 'only' : index === 0 ? 'first' : index === parts - 1 ? 'last' : 'next'
    const entries = facts
      .slice(index * SEED_PART_FACTS, (index + 1) * SEED_PART_FACTS)
      .map(logEntry)
    const reply = await SEED_PART(
      client,
      [keys.log, guard],
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
  const reply = await PUBLISH(client, [keys.log], [channel, payload])
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
  // From the master, as ioredis reads on a Cluster by default (`scaleReads`): a replica
  // may not have every fact its master has published yet.
  const entries: unknown = await client.zrangebyscore(keys.log, since, '+inf')
  if (!Array.isArray(entries)) throw unexpectedReply()
  // Scored `+inf`, the marker comes last when it is there at all.
  if (entries.at(-1) !== COMPLETE) return null
  const facts: RevocationFact[] = []
  for (const entry of entries.slice(0, -1)) {
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
