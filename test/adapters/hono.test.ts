import { Hono } from 'hono'
import { latchkeyHono, requireToken } from '../../src/adapters/hono.js'
import { FRESH_MS, adapterSuite, type AppUnderTest, type Fixture } from './suite.js'

function buildApp({ latchkey, verifier, rolesOf, prefix }: Fixture): Hono {
  const auth = latchkeyHono(latchkey, { rolesOf })
  const app = new Hono()
  app.route(prefix === '' ? '/' : prefix, auth.routes())
  app.get('/me', auth.requireAuth(), (c) => {
    const caller = c.get('auth')
    return c.json({ userId: caller.user.id, via: caller.via })
  })
  app.post('/me', auth.requireAuth(), (c) =>
    c.json({ userId: c.get('auth').user.id, via: c.get('auth').via }),
  )
  for (const [path, options] of [
    ['/cookie-only', { via: 'cookie' }],
    ['/bearer-only', { via: 'bearer' }],
    ['/admin', { roles: ['admin'] }],
    ['/fresh', { freshWithinMs: FRESH_MS }],
  ] as const) {
    app.get(path, auth.requireAuth({ ...options }), (c) =>
      c.json({ userId: c.get('auth').user.id, via: c.get('auth').via }),
    )
  }
  app.get('/api/claims', requireToken(verifier), (c) => c.json({ sub: c.get('claims').sub }))
  app.get('/api/admin', requireToken(verifier, { roles: ['admin'] }), (c) =>
    c.json({ sub: c.get('claims').sub }),
  )
  app.get('/open', (c) => c.json({ open: true }))
  return app
}

/** Requests through `app.request`: no port. */
function inProcess(app: Hono): AppUnderTest {
  return {
    fetch: async (path, init) => app.request(path, init),
    close: () => Promise.resolve(),
  }
}

adapterSuite('hono', (fixture) => Promise.resolve(inProcess(buildApp(fixture))))
