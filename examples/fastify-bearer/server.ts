// A Fastify API whose clients log in with `mode: "token"` and send Bearer access tokens.
// Its JWKS also serves other services (see ../hono-verify).
// Run: npx tsx examples/fastify-bearer/server.ts
import Fastify from 'fastify'
import { createLatchkey } from 'latchkey'
import { latchkeyPlugin } from 'latchkey/fastify'
import { openSqliteStore } from 'latchkey/stores/sqlite'

const port = Number(process.env['PORT'] ?? 3000)
const host = process.env['HOST'] ?? '127.0.0.1'

const latchkey = createLatchkey({
  store: await openSqliteStore({
    filename: process.env['DATABASE_FILE'] ?? './data/fastify-bearer.db',
  }),
  issuer: process.env['LATCHKEY_ISSUER'] ?? `http://localhost:${port}`,
  // Development only: a real deployment sets LATCHKEY_SECRET (≥ 32 random bytes).
  secret: process.env['LATCHKEY_SECRET'] ?? 'fastify-bearer-example-secret-not-for-production',
})

const app = Fastify()
await app.register(latchkeyPlugin, { latchkey })

const tasks = new Map<string, string[]>()
// onRequest: a request without a valid token is refused before its body is parsed.
const bearerOnly = { onRequest: app.latchkey.requireAuth({ via: 'bearer' }) }

app.get('/api/me', bearerOnly, (request) => {
  const { user } = request.auth!
  return { id: user.id, email: user.email }
})

app.post<{ Body: { title: string } }>(
  '/api/tasks',
  {
    ...bearerOnly,
    schema: {
      body: {
        type: 'object',
        required: ['title'],
        properties: { title: { type: 'string', minLength: 1 } },
      },
    },
  },
  async (request, reply) => {
    const userId = request.auth!.user.id
    tasks.set(userId, [...(tasks.get(userId) ?? []), request.body.title])
    return reply.code(201).send({ tasks: tasks.get(userId) })
  },
)

app.addHook('onClose', () => latchkey.close())
await app.listen({ port, host })
console.log(`listening on http://${host}:${port}`)
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void app.close())
