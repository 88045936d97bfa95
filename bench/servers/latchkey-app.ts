// One Latchkey node, configured from the environment like the standalone server
// (PORT, HOST, DATABASE_URL, REDIS_URL, LATCHKEY_SECRET, LATCHKEY_ISSUER,
// LATCHKEY_TRUSTED_ORIGINS), serving the auth API under /auth/* and an app beside it:
// GET /api/open (no check) and GET /api/me (`latchkey.peek`, else `latchkey.authenticate`,
// as the README shows for node:http). Differences
// from `latchkey start`, for benchmarking only: rate limits are out of the way, and
// argon2id is cheap (hashing is not what is measured; hundreds of logins are made).
// Prints one JSON line when ready: {"port", "redisLayer", "bus"}.
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:http'
import { createNodeListener, credentialsOf } from '../../src/adapters/node-http.js'
import { argon2idHasher, createLatchkey } from '../../src/index.js'
import type { BusTransport } from '../../src/index.js'
import { redisBus } from '../../src/revocation/redis-bus.js'
import { redisLayer } from '../../src/stores/redis/index.js'
import { readServerEnv } from '../../src/server/env.js'
import { openStore } from '../../src/server/start.js'

const unthrottled = { limit: 1_000_000, windowMs: 60_000 }
const env = readServerEnv(process.env)
const redisUrl = process.env['REDIS_URL']
const redisPrefix = process.env['BENCH_REDIS_PREFIX'] ?? 'latchkey-bench:'

let store = await openStore(env.database)
let redisLayerOn = false
let bus: BusTransport | undefined
if (redisUrl !== undefined && redisUrl !== '') {
  store = redisLayer(store, { redis: redisUrl, prefix: redisPrefix })
  redisLayerOn = true
  bus = redisBus({ url: redisUrl, channel: `${redisPrefix}revocations` })
}

const latchkey = createLatchkey({
  store,
  issuer: env.issuer,
  secret: env.secret ?? 'bench-only master secret, 32+ bytes long, never used elsewhere',
  trustedOrigins: env.trustedOrigins,
  passwordHasher: argon2idHasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 }),
  rateLimits: { loginPerIp: unthrottled, loginPerAccount: unthrottled, signupPerIp: unthrottled },
  revocation: bus === undefined ? {} : { bus },
})
// Every node must know the signing key before the first token-mode login.
await latchkey.tokens.keyring.maintain(Date.now(), latchkey.config.tokens.rotationIntervalMs)
await latchkey.tokens.keyring.refresh()

const jsonHeaders = { 'content-type': 'application/json', 'cache-control': 'no-store' }
const unauthorized = JSON.stringify({ error: 'unauthorized' })

// An app's own node:http server, as the README shows it: its routes stay node:http, the
// auth routes go to Latchkey's listener, and a protected route asks `peek`, then
// `authenticate`.
const auth = createNodeListener(latchkey.handler)
let inFlight = 0
const server = createServer((request, response) => {
  // Both routes build their answer alike; they differ only by the check.
  if (request.url === '/api/open') {
    response.writeHead(200, jsonHeaders).end(JSON.stringify({ ok: true, user: null }))
    return
  }
  if (request.url === '/api/me') {
    const credentials = credentialsOf(request)
    // A credential this node has validated, untouched by any fact: answered at once.
    const cached = latchkey.peek(credentials)
    if (cached !== undefined) {
      response.writeHead(200, jsonHeaders).end(JSON.stringify({ ok: true, user: cached.user.id }))
      return
    }
    inFlight += 1
    latchkey
      .authenticate(credentials)
      .then((caller) => {
        if (caller === null) response.writeHead(401, jsonHeaders).end(unauthorized)
        else
          response
            .writeHead(200, jsonHeaders)
            .end(JSON.stringify({ ok: true, user: caller.user.id }))
      })
      .catch(() => response.writeHead(503, jsonHeaders).end('{"error":"store_unavailable"}'))
      .finally(() => (inFlight -= 1))
    return
  }
  auth(request, response)
})

server.listen(env.port, env.host, () => {
  const { port } = server.address() as AddressInfo
  console.log(
    JSON.stringify({ port, redisLayer: redisLayerOn, bus: bus === undefined ? 'local' : bus.name }),
  )
})

// Requests the load generator abandoned at the end of a run are let finish (up to 2 s)
// before the store closes under them.
process.once('SIGTERM', () => {
  server.close()
  server.closeIdleConnections()
  const deadline = Date.now() + 2_000
  const finish = () => {
    if (inFlight > 0 && Date.now() < deadline) {
      setTimeout(finish, 10)
      return
    }
    server.closeAllConnections()
    void latchkey.close().finally(() => process.exit(0))
  }
  finish()
})
