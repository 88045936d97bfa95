import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { latchkeyPlugin, requireToken } from '../../src/adapters/fastify.js'
import { FRESH_MS, adapterSuite, type AppUnderTest, type Fixture } from './suite.js'

async function buildApp({
  latchkey,
  verifier,
  rolesOf,
  prefix,
}: Fixture): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(latchkeyPlugin, { latchkey, rolesOf, path: prefix })
  const reply = (request: FastifyRequest) => {
    if (request.auth === null) throw new Error('not behind requireAuth')
    return { userId: request.auth.user.id, via: request.auth.via }
  }
  const { requireAuth } = app.latchkey
  app.get('/me', { preHandler: requireAuth() }, reply)
  // As an onRequest hook: refused before Fastify parses the body.
  app.post('/me', { onRequest: requireAuth() }, reply)
  app.get('/cookie-only', { preHandler: requireAuth({ via: 'cookie' }) }, reply)
  app.get('/bearer-only', { preHandler: requireAuth({ via: 'bearer' }) }, reply)
  app.get('/admin', { preHandler: requireAuth({ roles: ['admin'] }) }, reply)
  app.get('/fresh', { preHandler: requireAuth({ freshWithinMs: FRESH_MS }) }, reply)
  const claims = (request: FastifyRequest) => ({ sub: request.claims?.sub })
  app.get('/api/claims', { preHandler: requireToken(verifier) }, claims)
  app.get('/api/admin', { preHandler: requireToken(verifier, { roles: ['admin'] }) }, claims)
  app.get('/open', () => ({ open: true }))
  await app.ready()
  return app
}

/** Requests through `inject`: no port. */
function injected(app: FastifyInstance): AppUnderTest {
  return {
    async fetch(path, init = {}) {
      const request = new Request(new URL(path, 'http://localhost'), init)
      const body = request.body === null ? undefined : Buffer.from(await request.arrayBuffer())
      const response = await app.inject({
        method: request.method as 'GET',
        url: path,
        headers: Object.fromEntries(request.headers),
        ...(body === undefined ? {} : { payload: body }),
      })
      const headers = new Headers()
      for (const [name, value] of Object.entries(response.headers)) {
        if (value === undefined) continue
        for (const item of Array.isArray(value) ? value : [value])
          headers.append(name, String(item))
      }
      const nullBody = response.statusCode === 204 || response.statusCode === 304
      return new Response(nullBody ? null : new Uint8Array(response.rawPayload), {
        status: response.statusCode,
        headers,
      })
    },
    close: () => app.close(),
  }
}

adapterSuite('fastify', async (fixture) => injected(await buildApp(fixture)))
