// The conventional session stack, in its own process: Express 5 + express-session, its
// sessions in Redis through connect-redis (node-redis client). GET /api/open answers
// without a session; GET /api/me needs one (a Redis read, and a touch, per request);
// POST /login starts one. Env: REDIS_URL, BENCH_REDIS_PREFIX. Prints {"port"} when ready.
import { RedisStore } from 'connect-redis'
import express from 'express'
import session from 'express-session'
import type { AddressInfo } from 'node:net'
import { createClient } from 'redis'

declare module 'express-session' {
  interface SessionData {
    userId: string
  }
}

const redis = createClient({ url: process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379' })
redis.on('error', (error: unknown) => console.error('redis', error))
await redis.connect()

const app = express()
app.disable('x-powered-by')
app.disable('etag')
app.get('/api/open', (_req, res) => {
  res.set('cache-control', 'no-store').json({ ok: true, user: null })
})
app.use(
  session({
    store: new RedisStore({
      client: redis,
      prefix: `${process.env['BENCH_REDIS_PREFIX'] ?? 'latchkey-bench:'}sess:`,
    }),
    secret: 'bench-only session secret, 32+ bytes long, never used elsewhere',
    name: 'sid',
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: 'lax', secure: false, maxAge: 30 * 60_000 },
  }),
)
app.post('/login', (req, res, next) => {
  req.session.regenerate((error) => {
    if (error !== undefined && error !== null) {
      next(error)
      return
    }
    req.session.userId = `user-${Math.random().toString(36).slice(2)}`
    res.json({ ok: true })
  })
})
app.get('/api/me', (req, res) => {
  const userId = req.session.userId
  if (userId === undefined) {
    res.status(401).json({ error: 'unauthorized' })
    return
  }
  res.set('cache-control', 'no-store').json({ ok: true, user: userId })
})

const server = app.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: (server.address() as AddressInfo).port }))
})

process.once('SIGTERM', () => {
  server.close()
  server.closeAllConnections()
  void redis.quit().finally(() => process.exit(0))
})
