// An Express app whose browser users sign in with Latchkey cookie sessions, stored in
// SQLite. Run: npx tsx examples/express-sessions/server.ts
import express from 'express'
import { createLatchkey } from 'latchkey'
import { callerOf, latchkeyExpress } from 'latchkey/express'
import { openSqliteStore } from 'latchkey/stores/sqlite'

const port = Number(process.env['PORT'] ?? 3000)
const host = process.env['HOST'] ?? '127.0.0.1'
const issuer = process.env['LATCHKEY_ISSUER'] ?? `http://localhost:${port}`

const latchkey = createLatchkey({
  store: await openSqliteStore({
    filename: process.env['DATABASE_FILE'] ?? './data/express-sessions.db',
  }),
  issuer,
  // Development only: a real deployment sets LATCHKEY_SECRET (≥ 32 random bytes).
  secret: process.env['LATCHKEY_SECRET'] ?? 'express-sessions-example-secret-not-for-production',
})
const auth = latchkeyExpress(latchkey)

const notes = new Map<string, string[]>()
const app = express()
// Before any body parser: the auth routes read their own raw body.
app.use(auth.routes())
app.use(express.json({ limit: '4kb' }))

app.get('/api/notes', auth.requireAuth({ via: 'cookie' }), (req, res) => {
  res.json({ notes: notes.get(callerOf(req).user.id) ?? [] })
})

// An unsafe request with a cookie: requireAuth demands the x-csrf-token from login.
app.post('/api/notes', auth.requireAuth({ via: 'cookie' }), (req, res) => {
  const { text } = req.body as { text?: unknown }
  if (typeof text !== 'string' || text === '') {
    res.status(400).json({ error: 'invalid_request', message: '"text" must be a string.' })
    return
  }
  const userId = callerOf(req).user.id
  notes.set(userId, [...(notes.get(userId) ?? []), text])
  res.status(201).json({ notes: notes.get(userId) })
})

// Deleting everything asks for a password typed within the last five minutes.
app.delete(
  '/api/notes',
  auth.requireAuth({ via: 'cookie', freshWithinMs: 5 * 60_000 }),
  (req, res) => {
    notes.delete(callerOf(req).user.id)
    res.status(204).end()
  },
)

const server = app.listen(port, host, () => console.log(`listening on http://${host}:${port}`))
const stop = () => server.close(() => void latchkey.close())
process.once('SIGTERM', stop)
process.once('SIGINT', stop)
