import { Cluster, Redis } from 'ioredis'
import type { RedisOptions } from 'ioredis'
import { ConfigError } from '../../errors.js'

/** A Redis connection: one server, or a Redis Cluster. */
export type RedisClient = Redis | Cluster

/** How the connection behaves when Redis is away. */
export interface RedisConnectOptions {
  /**
   * Fail a command at once while disconnected instead of queueing it until Redis is back:
   * a request must fall back to the store, not hang. Default true.
   */
  failFast?: boolean
  /** A command that takes longer fails (a half-open connection). Default 1000 ms. */
  commandTimeoutMs?: number
}

/**
 * Connects to `url`: `redis://` or `rediss://` for one server, or several URLs separated
 * by commas for the seed nodes of a Redis Cluster. Credentials in the URL are used and
 * never echoed in an error.
 */
export function connectRedis(url: string, options: RedisConnectOptions = {}): RedisClient {
  const urls = url
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
  if (urls.length === 0) throw new ConfigError('The Redis URL is empty.')
  const nodes = urls.map(parseRedisUrl)
  const failFast = options.failFast ?? true
  const common: RedisOptions = {
    commandTimeout: options.commandTimeoutMs ?? 1000,
    enableOfflineQueue: !failFast,
    maxRetriesPerRequest: failFast ? 0 : null,
    // Keep trying for as long as the process lives; the bus reports the outage meanwhile.
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
    lazyConnect: false,
  }
  const first = nodes[0]
  if (first === undefined) throw new ConfigError('The Redis URL is empty.')
  if (nodes.length === 1) return new Redis({ ...common, ...first })
  const { username, password, tls } = first
  return new Cluster(
    nodes.map(({ host, port }) => ({ host, port })),
    {
      enableOfflineQueue: !failFast,
      clusterRetryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2000),
      // By default a command whose node went away is retried every 100 ms, up to 16
      // times: a logout would wait 1.6 s for its facts to fail. Fail fast instead; the
      // caller falls back to the store, and the bus retries in the background.
      ...(failFast ? { retryDelayOnFailover: 0, retryDelayOnClusterDown: 0 } : {}),
      redisOptions: {
        commandTimeout: common.commandTimeout,
        maxRetriesPerRequest: common.maxRetriesPerRequest,
        username,
        password,
        tls,
      },
    },
  )
}

/**
 * WAIT on the connection that writes `key`: until `replicas` replicas of its node hold every
 * write made on it so far, or `timeoutMs` passed. Answers how many do. A Cluster sends a
 * command without a key to any node; in a pipeline it goes where the pipeline's key does.
 */
export async function waitForReplicas(
  redis: RedisClient,
  key: string,
  replicas: number,
  timeoutMs: number,
): Promise<number> {
  const replies = await redis.pipeline().exists(key).wait(replicas, timeoutMs).exec()
  const [error, count] = replies?.[1] ?? [new Error('WAIT was not answered'), null]
  if (error) throw error
  if (typeof count !== 'number') throw new Error('WAIT answered an unexpected reply')
  return count
}

function parseRedisUrl(value: string): RedisOptions {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ConfigError('REDIS_URL is not a URL (redis://host:port).')
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ConfigError('REDIS_URL must start with redis:// or rediss://.')
  }
  const db = url.pathname.replace(/^\//, '')
  if (db !== '' && !/^\d+$/.test(db))
    throw new ConfigError('REDIS_URL: the path must be a db number.')
  return {
    host: url.hostname,
    port: url.port === '' ? 6379 : Number(url.port),
    username: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
    db: db === '' ? 0 : Number(db),
    tls: url.protocol === 'rediss:' ? {} : undefined,
  }
}
