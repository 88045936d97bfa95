import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createNodeServer } from '../adapters/node-http.js'
import type { Latchkey } from '../index.js'
import { createLatchkey } from '../index.js'
import type { Store } from '../stores/contract.js'
import { openSqliteStore } from '../stores/sql/sqlite.js'
import type { DatabaseConfig, ServerEnv } from './env.js'
import { developmentSecret } from './secret.js'

/** A running server. */
export interface RunningServer {
  url: string
  server: Server
  latchkey: Latchkey
  /** Stops accepting connections, finishes the open ones, then closes the store. */
  close(): Promise<void>
}

export interface ServerLogger {
  info(message: string): void
  warn(message: string): void
  error(message: string, error?: unknown): void
}

const CLEANUP_INTERVAL_MS = 10 * 60_000

/** Opens the store (applying migrations), builds Latchkey and starts listening. */
export async function startServer(env: ServerEnv, logger: ServerLogger): Promise<RunningServer> {
  const secret =
    env.secret ?? (await developmentSecret(env.dataDir, (message) => logger.warn(message)))
  const store = await openStore(env.database)
  const latchkey = createLatchkey({
    store,
    issuer: env.issuer,
    secret,
    trustedOrigins: env.trustedOrigins,
    trustProxyHops: env.trustProxyHops,
    logger,
  })
  const server = createNodeServer(latchkey.handler)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(env.port, env.host, () => resolve())
  })
  const { port } = server.address() as AddressInfo
  const cleanup = setInterval(() => {
    store.deleteExpired(Date.now()).catch((error: unknown) => logger.error('cleanup failed', error))
  }, CLEANUP_INTERVAL_MS)
  cleanup.unref()
  return {
    url: `http://localhost:${port}`,
    server,
    latchkey,
    async close() {
      clearInterval(cleanup)
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
      })
      await latchkey.close()
    },
  }
}

/** Opens the configured store; drivers are imported only by the store that needs them. */
export async function openStore(database: DatabaseConfig): Promise<Store> {
  return openSqliteStore({ filename: database.filename })
}
