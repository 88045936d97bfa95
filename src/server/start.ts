import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createNodeServer } from '../adapters/node-http.js'
import type { Latchkey } from '../index.js'
import { createLatchkey } from '../index.js'
import type { BusTransport } from '../revocation/transport.js'
import type { Store } from '../stores/contract.js'
import type { DatabaseConfig, ServerEnv } from './env.js'
import { developmentSecret } from './secret.js'

/** A running server. */
export interface RunningServer {
  url: string
  server: Server
  latchkey: Latchkey
  /**
   * Stops accepting connections and lets the open requests finish, for at most the drain
   * timeout (then their connections are cut), then closes the bus and the store.
   */
  close(): Promise<void>
}

export interface ServerLogger {
  info(message: string): void
  warn(message: string): void
  error(message: string, error?: unknown): void
}

const CLEANUP_INTERVAL_MS = 10 * 60_000
/**
 * How often the keyring is maintained and reloaded: well under the publish delay (the
 * JWKS max-age), so every node knows a new key before it starts signing.
 */
const KEY_INTERVAL_MS = 60_000

/** Opens the store (applying migrations) and builds Latchkey from the environment. */
export async function openLatchkey(env: ServerEnv, logger: ServerLogger): Promise<Latchkey> {
  const secret =
    env.secret ?? (await developmentSecret(env.dataDir, (message) => logger.warn(message)))
  const database = await openStore(env.database)
  const store =
    env.redisUrl === undefined ? database : await withRedis(database, env.redisUrl, env.redisPrefix)
  const bus = await openBus(env)
  return createLatchkey({
    store,
    revocation: { bus },
    issuer: env.issuer,
    secret,
    trustedOrigins: env.trustedOrigins,
    trustProxyHops: env.trustProxyHops,
    tokens: {
      alg: env.tokens.alg,
      hmacSecret: env.tokens.hmacSecret,
      accessTokenTtlSeconds: env.tokens.accessTokenTtlSeconds,
      audience: env.tokens.audience,
      refresh: {
        idleMs: seconds(env.tokens.refreshIdleSeconds),
        absoluteMs: seconds(env.tokens.refreshAbsoluteSeconds),
      },
    },
    logger,
  })
}

const seconds = (value: number | undefined) => (value === undefined ? undefined : value * 1000)

/** Opens the store (applying migrations), builds Latchkey and starts listening. */
export async function startServer(env: ServerEnv, logger: ServerLogger): Promise<RunningServer> {
  const latchkey = await openLatchkey(env, logger)
  const { revocation } = latchkey
  logger.info(
    `revocation bus: ${revocation.state === 'local' ? 'in-process (one node)' : revocation.transport}`,
  )
  const { store, clock } = latchkey.config
  const { keyring } = latchkey.tokens
  const { rotationIntervalMs } = latchkey.config.tokens
  await keyring.maintain(clock(), rotationIntervalMs)
  const keys = setInterval(() => {
    keyring
      .maintain(clock(), rotationIntervalMs)
      .then(() => keyring.refresh())
      .catch((error: unknown) => logger.error('key maintenance failed', error))
  }, KEY_INTERVAL_MS)
  keys.unref()
  const server = createNodeServer(latchkey.handler)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(env.port, env.host, () => resolve())
  })
  const { port } = server.address() as AddressInfo
  const cleanup = setInterval(() => {
    store.deleteExpired(clock()).catch((error: unknown) => logger.error('cleanup failed', error))
  }, CLEANUP_INTERVAL_MS)
  cleanup.unref()
  return {
    url: `http://localhost:${port}`,
    server,
    latchkey,
    async close() {
      clearInterval(cleanup)
      clearInterval(keys)
      await new Promise<void>((resolve) => {
        // A request stuck on a store that has gone away must not hold the stop forever.
        const cut = setTimeout(() => server.closeAllConnections(), env.drainSeconds * 1000)
        server.close(() => {
          clearTimeout(cut)
          resolve()
        })
        server.closeIdleConnections()
      })
      await latchkey.close()
    },
  }
}

/** Opens the configured store; drivers are imported only by the store that needs them. */
export async function openStore(database: DatabaseConfig): Promise<Store> {
  if (database.kind === 'postgres') {
    const { openPostgresStore } = await import('../stores/sql/postgres.js')
    return openPostgresStore({
      connectionString: database.url,
      preparedStatements: database.preparedStatements,
      ...(database.poolSize === undefined ? {} : { max: database.poolSize }),
    })
  }
  const { openSqliteStore } = await import('../stores/sql/sqlite.js')
  return openSqliteStore({ filename: database.filename })
}

/** Puts the Redis cache and counters in front of the database, which stays the source of truth. */
async function withRedis(store: Store, url: string, prefix: string): Promise<Store> {
  const { redisLayer } = await import('../stores/redis/index.js')
  return redisLayer(store, { redis: url, prefix })
}

/**
 * The bus between nodes: Redis pub/sub when there is a Redis, else Postgres
 * LISTEN/NOTIFY; SQLite is one node, so its facts stay in the process.
 */
async function openBus(env: ServerEnv): Promise<BusTransport | undefined> {
  if (env.redisUrl !== undefined) {
    const { redisBus } = await import('../revocation/redis-bus.js')
    return redisBus({ url: env.redisUrl, channel: `${env.redisPrefix}revocations` })
  }
  if (env.database.kind === 'postgres') {
    const { postgresBus } = await import('../revocation/postgres-bus.js')
    return postgresBus({ connectionString: env.database.url })
  }
  return undefined
}

/** Applies pending migrations to the configured database (`latchkey migrate`); returns their names. */
export async function migrateDatabase(database: DatabaseConfig): Promise<string[]> {
  if (database.kind === 'postgres') {
    const { migratePostgres } = await import('../stores/sql/postgres.js')
    return migratePostgres(database.url)
  }
  const { migrateSqlite } = await import('../stores/sql/sqlite.js')
  return migrateSqlite(database.filename)
}
