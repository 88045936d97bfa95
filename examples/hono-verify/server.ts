// A Hono service that trusts the access tokens a Latchkey server issues. It holds no
// store and no secret: only the issuer's public keys (JWKS), fetched and cached.
// Run: LATCHKEY_ISSUER=http://localhost:3000 npx tsx examples/hono-verify/server.ts
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { requireToken } from 'latchkey/hono'
import { createVerifier } from 'latchkey/verify'

const port = Number(process.env['PORT'] ?? 4000)
const host = process.env['HOST'] ?? '127.0.0.1'
const issuer = process.env['LATCHKEY_ISSUER'] ?? 'http://localhost:3000'

const verifier = createVerifier({
  jwksUrl: new URL('/.well-known/jwks.json', issuer),
  issuer,
  // Latchkey's default audience is its issuer; a deployment may set its own.
  audience: process.env['LATCHKEY_AUDIENCE'] ?? issuer,
})

const app = new Hono()
app.get('/api/whoami', requireToken(verifier), (c) => {
  const { sub, exp } = c.get('claims')
  return c.json({ sub, expiresAt: new Date(exp * 1000).toISOString() })
})

const server = serve({ fetch: app.fetch, port, hostname: host }, () =>
  console.log(`listening on http://${host}:${port}`),
)
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => server.close())
