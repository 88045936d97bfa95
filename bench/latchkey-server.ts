// A real Latchkey server in its own process, so that the bench driver (the parent) never
// shares an event loop with it. Usage: latchkey-server.ts <sqlite file | postgres:// URL>;
// prints the port when ready. Rate limits are raised out of the way: the bench logs in 50 times at once.
import type { AddressInfo } from 'node:net'
import { createNodeServer } from '../src/adapters/node-http.js'
import { argon2idHasher, createLatchkey } from '../src/index.js'
import { openPostgresStore } from '../src/stores/sql/postgres.js'
import { openSqliteStore } from '../src/stores/sql/sqlite.js'

const filename = process.argv[2]
if (filename === undefined || filename === '') {
  throw new Error('usage: latchkey-server.ts <sqlite file | postgres:// URL>')
}

const unthrottled = { limit: 1_000_000, windowMs: 60_000 }
const store = filename.startsWith('postgres://')
  ? await openPostgresStore({ connectionString: filename })
  : await openSqliteStore({ filename })
const latchkey = createLatchkey({
  store,
  issuer: 'http://127.0.0.1',
  secret: 'bench-only master secret, 32+ bytes long, never used elsewhere',
  passwordHasher: argon2idHasher(),
  rateLimits: { loginPerIp: unthrottled, loginPerAccount: unthrottled, signupPerIp: unthrottled },
})

const server = createNodeServer(latchkey.handler)
server.listen(0, '127.0.0.1', () => {
  console.log(String((server.address() as AddressInfo).port))
})

process.once('SIGTERM', () => {
  server.close()
  server.closeAllConnections()
  void latchkey.close().finally(() => process.exit(0))
})
