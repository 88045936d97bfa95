import type { RevocationFact } from './facts.js'

/**
 * What a bus needs from the wire: publish a payload to every node, and deliver every
 * payload on the channel (this node's own included). Redis pub/sub and Postgres
 * LISTEN/NOTIFY implement it; the feed above adds probes, trust and fact handling.
 */
export interface BusTransport {
  /** A short name for health output, such as `redis` or `postgres`. */
  readonly name: string
  /**
   * Starts listening. `connection(false)` must come as soon as delivery may have
   * stopped (a message could be lost); `connection(true)` once subscribed again.
   * Reconnecting is the transport's own job and goes on until `close()`.
   */
  start(listener: TransportListener): void
  /** Sends one payload; rejects when it could not be handed to the server. */
  publish(payload: string): Promise<void>
  close(): Promise<void>
  /**
   * Keeps a log of recent facts beside the channel for subscribers that start late. A
   * server node calls it once; on every (re)connect the transport loads the facts of the
   * last `windowMs` from the store, writes them and marks the log complete.
   */
  retain?(source: RetainSource): void
}

/** Where a transport that keeps a log reads the facts of the window from: the store. */
export interface RetainSource {
  /** How far back the log must reach: the longest an access token can outlive a fact. */
  windowMs: number
  /** The facts that took effect since `since` (epoch ms). */
  load(since: number): Promise<RevocationFact[]>
}

/** Callbacks of a started transport. */
export interface TransportListener {
  message(payload: string): void
  connection(up: boolean): void
}
