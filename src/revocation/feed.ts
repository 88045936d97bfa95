import { randomBytes } from 'node:crypto'
import type { RevocationFact } from './facts.js'
import { decodeMessage, encodeMessage } from './facts.js'
import type { BusTransport } from './transport.js'

/** What a local cache hears from the feed. */
export interface FeedListener {
  /** Facts, from this node (`remote` false) or another: evict what they touch. */
  facts(facts: readonly RevocationFact[], remote: boolean): void
  /** The bus was lost: whatever is cached may have missed a fact. Drop it all. */
  flush(): void
}

/** The state of the bus as `/healthz` reports it. */
export type BusState = 'local' | 'up' | 'down'

/**
 * The revocation feed of one node: facts published here are applied at once and sent
 * to the other nodes; facts from them are applied as they arrive. Caches answer only
 * while the feed is `trusted`: a node that may have missed a message (the bus dropped,
 * or a probe did not come back in time) flushes them and reads the store until its own
 * probe has made the round trip again.
 */
export interface RevocationFeed {
  /** Whether caches may answer: the bus is live and nothing was missed since the last flush. */
  readonly trusted: boolean
  /**
   * Bumped by every fact and every loss or return of the bus. A cache fill that began
   * under an older generation is dropped: what it read may predate a revocation.
   */
  readonly generation: number
  readonly state: BusState
  /** The name of the transport, or `memory` for a single node. */
  readonly transport: string
  /**
   * Applies facts here, then sends them to the other nodes. Never rejects: the facts are
   * already in the store. A failed send is retried in the background until it goes
   * through or the feed closes.
   */
  publish(facts: readonly RevocationFact[]): Promise<void>
  subscribe(listener: FeedListener): () => void
  close(): Promise<void>
}

/** Options of a feed that spans several nodes. */
export interface FeedOptions {
  /** How often this node checks the bus with a probe of its own. Default 1 s. */
  probeIntervalMs?: number
  /** A probe not back within this time marks the bus as lost. Default 2 s. */
  probeTimeoutMs?: number
  /** Where failures of the bus are reported. Default: console. */
  logger?: { warn(message: string): void }
}

/** One node alone: facts are applied in-process and nothing can be missed. */
export function createLocalFeed(): RevocationFeed {
  const listeners = new Set<FeedListener>()
  let generation = 0
  return {
    trusted: true,
    get generation() {
      return generation
    },
    state: 'local',
    transport: 'memory',
    publish(facts) {
      generation++
      for (const listener of listeners) listener.facts(facts, false)
      return Promise.resolve()
    },
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    close: () => Promise.resolve(),
  }
}

const RETRY_MS = [50, 200, 1000, 2000]

/** A feed over a transport shared by many nodes (Redis pub/sub, Postgres LISTEN/NOTIFY). */
export function createBusFeed(transport: BusTransport, options: FeedOptions = {}): RevocationFeed {
  const probeIntervalMs = options.probeIntervalMs ?? 1000
  const probeTimeoutMs = options.probeTimeoutMs ?? 2000
  const logger = options.logger ?? { warn: (message: string) => console.warn(message) }
  const origin = randomBytes(9).toString('base64url')
  const listeners = new Set<FeedListener>()
  /** Probes sent since the bus was last lost, by nonce, with when they were sent. */
  const pending = new Map<string, number>()
  let generation = 0
  let state: 'up' | 'down' = 'down'
  let closed = false
  let connected = false

  function lose(reason: string): void {
    pending.clear()
    if (state === 'down') return
    state = 'down'
    generation++
    logger.warn(`latchkey: revocation bus (${transport.name}) lost: ${reason}; reading the store`)
    for (const listener of listeners) listener.flush()
  }

  function probe(): void {
    if (closed || !connected) return
    const now = Date.now()
    for (const sentAt of pending.values()) {
      if (now - sentAt > probeTimeoutMs) {
        lose('a probe did not come back in time')
        break
      }
    }
    const nonce = randomBytes(9).toString('base64url')
    pending.set(nonce, now)
    transport.publish(encodeMessage({ v: 1, origin, probe: nonce })).catch(() => {
      lose('a probe could not be sent')
    })
  }

  function apply(facts: readonly RevocationFact[], remote: boolean): void {
    generation++
    for (const listener of listeners) listener.facts(facts, remote)
  }

  transport.start({
    message(payload) {
      const message = decodeMessage(payload)
      if (message === null) return
      if ('probe' in message) {
        if (message.origin !== origin || !pending.delete(message.probe)) return
        pending.clear()
        if (state === 'down') {
          // Everything cached was flushed when the bus was lost; from here on every
          // fact arrives, so the caches may fill and answer again.
          state = 'up'
          generation++
        }
        return
      }
      if (message.origin !== origin) apply(message.facts, true)
    },
    connection(up) {
      connected = up
      // A transport reports its own close as a lost connection: nothing was missed then.
      if (closed) return
      if (!up) lose('disconnected')
      else probe()
    },
  })
  const timer = setInterval(probe, probeIntervalMs)
  timer.unref()

  /** Retries a publish that failed, with backoff, until it goes through or the feed closes. */
  async function resend(payload: string): Promise<void> {
    logger.warn('latchkey: could not publish revocation facts; retrying')
    for (let attempt = 0; !closed; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS[Math.min(attempt, 3)]))
      if (closed) return
      try {
        await transport.publish(payload)
        return
      } catch {
        // Still away: the next attempt waits longer.
      }
    }
  }

  return {
    get trusted() {
      return state === 'up'
    },
    get generation() {
      return generation
    },
    get state() {
      return state
    },
    transport: transport.name,
    async publish(facts) {
      if (facts.length === 0) return
      apply(facts, false)
      const payload = encodeMessage({ v: 1, origin, facts: [...facts] })
      // The first attempt is awaited, so that a revoking response leaves after its facts
      // are on the bus; retries run in the background.
      try {
        await transport.publish(payload)
      } catch {
        void resend(payload)
      }
    },
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    async close() {
      closed = true
      clearInterval(timer)
      await transport.close()
    },
  }
}
