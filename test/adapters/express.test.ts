import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { describe, it } from 'node:test'
import express from 'express'
import express4 from 'express4'
import { callerOf, latchkeyExpress, requireToken } from '../../src/adapters/express.js'
import { PASSWORD, browserHeaders, harness } from '../harness.js'
import { FRESH_MS, adapterSuite, type AppUnderTest, type Fixture } from './suite.js'

/** Express 5, and Express 4 (the oldest the peer range allows), under one API. */
type Express = typeof express

function buildApp(
  make: Express,
  { latchkey, verifier, rolesOf, prefix }: Fixture,
): express.Express {
  const auth = latchkeyExpress(latchkey, { rolesOf })
  const app = make()
  if (prefix === '') app.use(auth.routes())
  else app.use(prefix, auth.routes())
  const guarded: express.RequestHandler = (req, res) => {
    const caller = callerOf(req)
    res.json({ userId: caller.user.id, via: caller.via })
  }
  app.get('/me', auth.requireAuth(), guarded)
  app.post('/me', auth.requireAuth(), guarded)
  app.get('/cookie-only', auth.requireAuth({ via: 'cookie' }), guarded)
  app.get('/bearer-only', auth.requireAuth({ via: 'bearer' }), guarded)
  app.get('/admin', auth.requireAuth({ roles: ['admin'] }), guarded)
  app.get('/fresh', auth.requireAuth({ freshWithinMs: FRESH_MS }), guarded)
  const claims: express.RequestHandler = (req, res) => {
    res.json({ sub: req.claims?.sub })
  }
  app.get('/api/claims', requireToken(verifier), claims)
  app.get('/api/admin', requireToken(verifier, { roles: ['admin'] }), claims)
  app.get('/open', (_req, res) => {
    res.json({ open: true })
  })
  return app
}

/** A real server on an ephemeral port, driven with fetch. */
async function serve(app: express.Express): Promise<AppUnderTest> {
  const server = app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve) => server.once('listening', resolve))
  const { port } = server.address() as AddressInfo
  return {
    fetch: (path, init) => fetch(`http://127.0.0.1:${port}${path}`, init),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

for (const [name, make] of [
  ['express', express],
  ['express 4', express4],
] as const) {
  adapterSuite(name, (fixture) => serve(buildApp(make, fixture)))

  describe(`${name} adapter behind a body parser`, () => {
    it('re-sends a body express.json() already read', async () => {
      const h = harness()
      const app = make()
      app.use(make.json())
      app.use(latchkeyExpress(h.latchkey).routes())
      const server = await serve(app)
      try {
        const response = await server.fetch('/auth/signup', {
          method: 'POST',
          headers: browserHeaders(),
          body: JSON.stringify({ email: 'parsed@example.com', password: PASSWORD }),
        })
        assert.equal(response.status, 201, await response.clone().text())
      } finally {
        await server.close()
        await h.latchkey.close()
      }
    })
  })
}
