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
}

/** Callbacks of a started transport. */
export interface TransportListener {
  message(payload: string): void
  connection(up: boolean): void
}
