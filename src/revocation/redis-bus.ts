/**
 * The revocation bus on Redis pub/sub (one server or a Cluster): a subscriber connection
 * that reports every loss (see `redis-subscriber.ts`), and a publisher client that fails at
 * once while Redis is away instead of queueing. Beside the channel it keeps a log of recent
 * facts for subscribers that start late (see `redis-log.ts`).
 */
import { Cluster } from 'ioredis'
import type { Redis } from 'ioredis'
import { systemClock } from '../clock.js'
import type { Clock } from '../clock.js'
import { connectRedis } from '../stores/redis/connection.js'
import type { RevocationFact } from './facts.js'
import { decodeMessage } from './facts.js'
import { appendToLog, logKeys, publishThroughLog, readLog, seedLog } from './redis-log.js'
import { subscribeRedis } from './redis-subscriber.js'
import type { BusTransport, RetainSource } from './transport.js'

/** Options of {@link redisBus}. */
export interface RedisBusOptions {
  /**
   * `redis://` URL, or comma-separated URLs of Cluster seed nodes (the subscription uses
   * the seed nodes in turn). Never logged.
   */
  url: string
  /** The pub/sub channel shared by every node. Default `latchkey:revocations`. */
  channel?: string
  /** A command slower than this fails (a half-open connection). Default 1000 ms. */
  commandTimeoutMs?: number
  /** Epoch milliseconds, for the log's scores. */
  clock?: Clock
  /** Where failures to seed the log are reported. Default: console. */
  logger?: { warn(message: string): void }
}

/** A Redis transport, which can also read the log it keeps beside the channel. */
export interface RedisBus extends BusTransport {
  retain(source: RetainSource): void
  /**
   * The facts logged since `since`, or `null` when the log is not known to be complete
   * (no server node has seeded it since Redis started).
   */
  readLog(since: number): Promise<RevocationFact[] | null>
}

/** Used for facts published before `retain` told the window (a verifier never does). */
const DEFAULT_WINDOW_MS = 630_000
const SEED_RETRY_MS = 1000
/** The longest a publish waits for a replica of the log's node to hold its facts. */
const REPLICA_WAIT_MS = 250

/** A {@link BusTransport} over Redis pub/sub, with a retained log of recent facts. */
export function redisBus(options: RedisBusOptions): RedisBus {
  const channel = options.channel ?? 'latchkey:revocations'
  const clock = options.clock ?? systemClock
  const logger = options.logger ?? { warn: (message: string) => console.warn(message) }
  const keys = logKeys(channel)
  // Half the command timeout: the WAIT must end, with its answer, before the command does.
  const replicaWaitMs = Math.min(
    REPLICA_WAIT_MS,
    Math.floor((options.commandTimeoutMs ?? 1000) / 2),
  )
  const publisher = connectRedis(options.url, {
    failFast: true,
    commandTimeoutMs: options.commandTimeoutMs,
  })
  // A failure shows as a rejected publish; an `error` event without a listener would crash
  // the process, and its message may name the host.
  publisher.on('error', () => {})
  let subscriber: { stop(): void } | undefined
  let source: RetainSource | undefined
  let seedTimer: NodeJS.Timeout | undefined
  let closed = false

  // Seeds on every connect of the publisher (a restarted Redis is empty) and retries until
  // it succeeds: until then late subscribers find no marker and keep failing closed.
  function seed(): void {
    clearTimeout(seedTimer)
    const retained = source
    if (closed || retained === undefined || publisher.status !== 'ready') return
    const now = clock()
    retained
      .load(now - retained.windowMs)
      .then((facts) => seedLog(publisher, keys, facts, { now, windowMs: retained.windowMs }))
      .catch(() => {
        if (closed) return
        logger.warn('latchkey: could not seed the revocation log in Redis; retrying')
        seedTimer = setTimeout(seed, SEED_RETRY_MS)
        seedTimer.unref()
      })
  }
  publisher.on('ready', seed)
  // A Cluster stays ready while one of its masters restarts empty, the log's one included:
  // seed again whenever a connection to a node becomes ready.
  if (publisher instanceof Cluster) {
    publisher.on('+node', (node: Redis) => node.on('ready', seed))
  }

  // A node publishes as it starts (a new signing key) while its first connection is still
  // being made. Fail-fast is for an outage, not for that: a publish waits for the first
  // connection attempt to end (ready, or failed), at most as long as a command may take.
  const FIRST_ATTEMPT_ENDS = ['ready', 'error', 'close', 'end'] as const
  let firstAttemptOver = false
  const firstAttempt = new Promise<void>((resolve) => {
    const over = () => {
      firstAttemptOver = true
      clearTimeout(timer)
      for (const event of FIRST_ATTEMPT_ENDS) publisher.off(event, over)
      resolve()
    }
    const timer = setTimeout(over, options.commandTimeoutMs ?? 1000)
    timer.unref()
    for (const event of FIRST_ATTEMPT_ENDS) publisher.on(event, over)
  })

  return {
    name: 'redis',
    start(listener) {
      if (subscriber !== undefined) throw new Error('The Redis bus is already started')
      subscriber = subscribeRedis(options.url, channel, listener, options.commandTimeoutMs)
    },
    async publish(payload) {
      if (!firstAttemptOver) await firstAttempt
      const message = decodeMessage(payload)
      if (message === null || !('facts' in message)) {
        // Through the log's node, as facts go: on a Cluster a bare PUBLISH may take any
        // node, and a probe would come back while facts cannot get through.
        await publishThroughLog(publisher, keys, channel, payload)
        return
      }
      await appendToLog(publisher, keys, message.facts, {
        now: clock(),
        windowMs: source?.windowMs ?? DEFAULT_WINDOW_MS,
        channel,
        payload,
        replicaWaitMs,
      })
    },
    retain(retained) {
      source = retained
      seed()
    },
    readLog: (since) => readLog(publisher, keys, since),
    async close() {
      closed = true
      clearTimeout(seedTimer)
      publisher.disconnect()
      subscriber?.stop()
      return Promise.resolve()
    },
  }
}
