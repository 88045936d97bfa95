/**
 * The subscribing side of the Redis bus. It uses a plain connection to one node even for a
 * Cluster (a PUBLISH reaches every node of a Cluster): ioredis's own Cluster subscriber
 * moves to another node without a word when its node goes away, and the messages published
 * meanwhile would be lost unnoticed. Here every lost connection is reported, then replaced
 * by a new one to the next node, with backoff.
 */
import { Redis } from 'ioredis'
import { connectRedis } from '../stores/redis/connection.js'
import type { TransportListener } from './transport.js'

const MAX_BACKOFF_MS = 2000

/** Subscribes to `channel` through the nodes of `url` in turn until `stop()` is called. */
export function subscribeRedis(
  url: string,
  channel: string,
  listener: TransportListener,
  commandTimeoutMs: number | undefined,
): { stop(): void } {
  const nodes = nodeUrls(url)
  let client: Redis | undefined
  let timer: NodeJS.Timeout | undefined
  let attempt = 0
  let next = 0
  let stopped = false

  function connect(): void {
    const node = nodes[next++ % nodes.length] ?? url
    const current = connectRedis(node, { failFast: true, commandTimeoutMs })
    if (!(current instanceof Redis)) throw new Error('A single Redis URL made a Cluster client')
    // No reconnection by ioredis: a lost connection is replaced by a new one (below).
    current.options.retryStrategy = undefined
    client = current
    let up = false
    let replaced = false
    // Reports the loss at once, then replaces the connection: a fresh one per attempt keeps
    // "subscribed" tied to one connection and lets a Cluster move to another node.
    const lost = () => {
      if (up) listener.connection(false)
      up = false
      if (replaced || stopped) return
      replaced = true
      // A closed stream is not disconnected again: that would hold the process open for 2 s.
      if (current.status !== 'close' && current.status !== 'end') current.disconnect()
      const delay = Math.min(50 * 2 ** attempt++, MAX_BACKOFF_MS)
      timer = setTimeout(connect, delay)
      timer.unref()
    }
    current.on('error', () => {}) // reported as the loss of the connection instead
    current.on('message', (received: string, payload: string) => {
      if (received === channel) listener.message(payload)
    })
    // `ready` comes before any subscription exists: up is reported only once SUBSCRIBE has
    // been answered, so that nothing published after `connection(true)` can be missed.
    current.on('ready', () => {
      current.subscribe(channel).then(() => {
        if (replaced || stopped) return
        up = true
        attempt = 0
        listener.connection(true)
      }, lost)
    })
    current.on('close', lost)
    current.on('end', lost)
  }

  connect()
  return {
    stop() {
      stopped = true
      clearTimeout(timer)
      if (client !== undefined && client.status !== 'end') client.disconnect()
    },
  }
}

/**
 * Each node of `url` as a URL of its own. In a Cluster URL only the first node may carry
 * the credentials; the others borrow them.
 */
function nodeUrls(url: string): string[] {
  const parts = url
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
  if (parts.length < 2) return parts
  let first: URL
  try {
    first = new URL(parts[0] ?? '')
  } catch {
    return parts // connectRedis reports the malformed URL
  }
  return parts.map((part) => {
    try {
      const node = new URL(part)
      if (node.username === '' && node.password === '') {
        node.username = first.username
        node.password = first.password
      }
      return node.toString()
    } catch {
      return part
    }
  })
}
