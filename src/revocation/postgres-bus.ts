/**
 * The revocation bus on Postgres LISTEN/NOTIFY, for deployments without Redis: one
 * dedicated connection LISTENs and reconnects by itself (backoff up to 2 s); publishing
 * goes through a small pool. NOTIFY payloads must stay under 8000 bytes, so a message with
 * many facts is split into several, sent in one transaction (all or none are delivered).
 */
import pg from 'pg'
import { ConfigError } from '../errors.js'
import type { RevocationFact } from './facts.js'
import { decodeMessage, encodeMessage } from './facts.js'
import type { BusTransport, TransportListener } from './transport.js'

/** Options of {@link postgresBus}. */
export interface PostgresBusOptions {
  /** `postgres://` URL; never logged. */
  connectionString: string
  /** The NOTIFY channel shared by every node (at most 63 bytes). Default `latchkey_revocations`. */
  channel?: string
  /** The `application_name` of the connections, as `pg_stat_activity` shows it. */
  applicationName?: string
  /** How long a connection attempt may take. Default 3000 ms. */
  connectTimeoutMs?: number
}

/** Postgres refuses a payload of 8000 bytes or more. */
const MAX_PAYLOAD_BYTES = 7999
const MAX_BACKOFF_MS = 2000

/** A {@link BusTransport} over Postgres LISTEN/NOTIFY. */
export function postgresBus(options: PostgresBusOptions): BusTransport {
  const channel = options.channel ?? 'latchkey_revocations'
  if (channel === '' || Buffer.byteLength(channel) > 63) {
    throw new ConfigError('The Postgres bus channel must be 1 to 63 bytes long.')
  }
  const config = {
    connectionString: options.connectionString,
    application_name: options.applicationName ?? 'latchkey-bus',
    connectionTimeoutMillis: options.connectTimeoutMs ?? 3000,
    keepAlive: true,
  }
  const pool = new pg.Pool({ ...config, max: 2 })
  // An idle pooled connection that dies emits here; the next publish simply gets another.
  pool.on('error', () => {})
  // A client that dies while checked out emits 'error' as well, which the pool listens to
  // only while the client is idle: the rejected query already reports it.
  pool.on('connect', (client) => client.on('error', () => {}))
  let stop: (() => Promise<void>) | undefined
  let closed = false

  return {
    name: 'postgres',
    start(listener) {
      if (stop !== undefined) throw new Error('The Postgres bus is already started')
      stop = listenForever(config, channel, listener, () => closed)
    },
    async publish(payload) {
      const payloads = splitPayload(payload)
      const client = await pool.connect()
      let broken: Error | undefined
      try {
        if (payloads.length === 1) {
          await client.query('select pg_notify($1, $2)', [channel, payloads[0]])
          return
        }
        await client.query('begin')
        for (const part of payloads) {
          await client.query('select pg_notify($1, $2)', [channel, part])
        }
        await client.query('commit')
      } catch (error) {
        // A connection that failed mid-transaction is not handed to the next publish.
        broken = error instanceof Error ? error : new Error('The notification failed')
        throw error
      } finally {
        client.release(broken)
      }
    },
    async close() {
      closed = true
      await stop?.()
      await pool.end()
    },
  }
}

/**
 * Holds one LISTEN connection for as long as the bus is open: reports down the moment it
 * fails (not when its cleanup is done), and up once LISTEN has been answered.
 */
function listenForever(
  config: pg.ClientConfig,
  channel: string,
  listener: TransportListener,
  closed: () => boolean,
): () => Promise<void> {
  let current: pg.Client | undefined
  let wake: (() => void) | undefined

  async function once(): Promise<boolean> {
    const client = new pg.Client(config)
    current = client
    const ended = new Promise<void>((resolve) => {
      wake = resolve
      client.on('error', () => resolve())
      client.on('end', () => resolve())
    })
    client.on('notification', (notification) => {
      if (notification.channel === channel && notification.payload !== undefined) {
        listener.message(notification.payload)
      }
    })
    let listening = false
    try {
      await client.connect()
      await client.query(`listen ${quoteIdentifier(channel)}`)
      listening = true
      if (!closed()) {
        listener.connection(true)
        await ended
      }
    } catch {
      // Connection refused, timed out or dropped during LISTEN: retried with backoff.
    }
    if (listening) listener.connection(false)
    current = undefined
    await client.end().catch(() => {})
    return listening
  }

  const loop = (async () => {
    for (let attempt = 0; !closed();) {
      attempt = (await once()) ? 0 : attempt + 1
      if (closed()) break
      const delay = Math.min(50 * 2 ** attempt, MAX_BACKOFF_MS)
      await new Promise<void>((resolve) => {
        wake = resolve
        setTimeout(resolve, delay).unref()
      })
    }
  })()

  return async () => {
    wake?.()
    await current?.end().catch(() => {})
    await loop
  }
}

/**
 * The payload as one or more NOTIFY payloads under the limit. A message of facts is split
 * into messages of fewer facts; anything else that is too large cannot be split.
 */
export function splitPayload(payload: string): string[] {
  if (Buffer.byteLength(payload) <= MAX_PAYLOAD_BYTES) return [payload]
  const message = decodeMessage(payload)
  if (message === null || !('facts' in message)) {
    throw new RangeError('A bus payload over 8000 bytes that is not a list of facts')
  }
  const parts: string[] = []
  const split = (facts: RevocationFact[]): void => {
    const encoded = encodeMessage({ v: 1, origin: message.origin, facts })
    if (Buffer.byteLength(encoded) <= MAX_PAYLOAD_BYTES) {
      parts.push(encoded)
      return
    }
    if (facts.length === 1) throw new RangeError('One revocation fact exceeds 8000 bytes')
    const half = Math.ceil(facts.length / 2)
    split(facts.slice(0, half))
    split(facts.slice(half))
  }
  split(message.facts)
  return parts
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}
