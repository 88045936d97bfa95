// A framework and a JWT library by hand, in its own process: Fastify 5 + fast-jwt
// verifying an EdDSA Bearer token, its verified-token cache on. Nothing is revocable:
// a token stays good until it expires, whatever happens to the user. GET /api/open
// answers without a token; GET /api/me needs one. Env: BENCH_PUBLIC_KEY (PEM, Ed25519).
// Prints {"port"} when ready.
import { createVerifier } from 'fast-jwt'
import Fastify from 'fastify'
import type { AddressInfo } from 'node:net'

const key = process.env['BENCH_PUBLIC_KEY']
if (key === undefined || key === '') throw new Error('BENCH_PUBLIC_KEY is required')
const verify = createVerifier({
  key,
  algorithms: ['EdDSA'],
  allowedIss: 'http://latchkey.bench',
  allowedAud: 'http://latchkey.bench',
  cache: true,
})

const app = Fastify({ logger: false })
app.get('/api/open', (_request, reply) => {
  void reply.header('cache-control', 'no-store')
  return Promise.resolve({ ok: true, user: null })
})
app.get('/api/me', (request, reply) => {
  const header = request.headers.authorization ?? ''
  const token = header.startsWith('Bearer ') ? header.slice(7) : ''
  let subject: unknown
  try {
    subject = (verify(token) as { sub?: unknown }).sub
  } catch {
    subject = undefined
  }
  if (typeof subject !== 'string') {
    void reply.code(401)
    return Promise.resolve({ error: 'unauthorized' })
  }
  void reply.header('cache-control', 'no-store')
  return Promise.resolve({ ok: true, user: subject })
})

await app.listen({ port: 0, host: '127.0.0.1' })
console.log(JSON.stringify({ port: (app.server.address() as AddressInfo).port }))

process.once('SIGTERM', () => {
  void app.close().finally(() => process.exit(0))
})
