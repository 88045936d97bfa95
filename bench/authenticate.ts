// The cost of `latchkey.authenticate` on a credential this node has already validated,
// in-process: the part of a protected request that the HTTP benchmark cannot resolve on
// a small machine, where the unprotected route itself moves by 10–20 % between runs.
import { performance } from 'node:perf_hooks'
import { credentialRequest } from '../src/adapters/guard-node.js'
import { argon2idHasher, createLatchkey } from '../src/index.js'
import { memoryStore } from '../src/stores/memory.js'
import { machine } from './load.js'

const ISSUER = 'https://auth.example.com'
const PASSWORD = 'correct horse battery staple, bench edition'
/** Tokens in the cache for the busy-node row: its default bound. */
const CACHED_MANY = 10_000

async function perCall(run: () => Promise<unknown>, calls = 200_000): Promise<number> {
  for (let i = 0; i < 20_000; i++) await run()
  const start = performance.now()
  for (let i = 0; i < calls; i++) await run()
  return ((performance.now() - start) / calls) * 1000
}

function perSyncCall(run: () => unknown, calls = 1_000_000): number {
  for (let i = 0; i < 100_000; i++) run()
  const start = performance.now()
  for (let i = 0; i < calls; i++) run()
  return ((performance.now() - start) / calls) * 1000
}

/** Prints microseconds per authenticated call, cached cookie and cached Bearer token. */
export async function runAuthenticateBench(): Promise<void> {
  const latchkey = createLatchkey({
    store: memoryStore(),
    issuer: ISSUER,
    secret: 'bench-only master secret, 32+ bytes long, never used elsewhere',
    passwordHasher: argon2idHasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 }),
  })
  const post = (path: string, body: unknown) =>
    latchkey.handler(
      new Request(ISSUER + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: ISSUER },
        body: JSON.stringify(body),
      }),
    )
  const email = 'bench@example.com'
  await post('/auth/signup', { email, password: PASSWORD })
  const session = await post('/auth/login', { email, password: PASSWORD })
  const cookie = session.headers.getSetCookie()[0]!.split(';')[0]!
  type Tokens = { access_token: string; refresh_token: string }
  const token = (
    (await (
      await post('/auth/login', { email, password: PASSWORD, mode: 'token' })
    ).json()) as Tokens
  ).access_token
  const browser = { cookie, host: 'auth.example.com', accept: '*/*', 'user-agent': 'bench' }
  const api = { authorization: `Bearer ${token}`, host: 'auth.example.com', accept: '*/*' }

  const cookieRequest = credentialRequest('GET', browser)
  const apiRequest = credentialRequest('GET', api)
  const rows: [string, number][] = [
    [
      '`peek`, cookie session, node:http headers (no promise)',
      perSyncCall(() => latchkey.peek(cookieRequest)),
    ],
    [
      '`peek`, Bearer JWT, node:http headers (no promise)',
      perSyncCall(() => latchkey.peek(apiRequest)),
    ],
    [
      '`authenticate`, cookie session, node:http headers',
      await perCall(() => latchkey.authenticate(cookieRequest)),
    ],
    [
      '`authenticate`, Bearer JWT, node:http headers',
      await perCall(() => latchkey.authenticate(apiRequest)),
    ],
    [
      '`authenticate`, cookie session, a new web Request',
      await perCall(() => latchkey.authenticate(new Request(ISSUER, { headers: browser }))),
    ],
    [
      'building the web Request alone',
      await perCall(() =>
        Promise.resolve(new Request(ISSUER, { headers: browser }).headers.get('cookie')),
      ),
    ],
  ]
  // A busy node answers many credentials in turn: here every access token of ten thousand
  // refreshes (each cached when issued, and still valid), asked for one after the other.
  let chain = (await (
    await post('/auth/login', { email, password: PASSWORD, mode: 'token' })
  ).json()) as Tokens
  const busy: ReturnType<typeof credentialRequest>[] = []
  for (let i = 0; i < CACHED_MANY; i++) {
    chain = (await (
      await post('/auth/refresh', { refresh_token: chain.refresh_token })
    ).json()) as Tokens
    busy.push(credentialRequest('GET', { ...api, authorization: `Bearer ${chain.access_token}` }))
  }
  if (busy.some((request) => latchkey.peek(request) === undefined)) {
    throw new Error('a refreshed access token is not cached')
  }
  let next = 0
  rows.push([
    `\`peek\`, Bearer JWT, ${CACHED_MANY.toLocaleString('en')} cached tokens in turn`,
    perSyncCall(() => latchkey.peek(busy[next++ % CACHED_MANY]!)),
  ])
  await latchkey.close()
  console.log(`\n## peek() and authenticate() on a cached credential, in-process (${machine()})`)
  console.log('| call | µs per call |\n|---|---:|')
  for (const [name, us] of rows) console.log(`| ${name} | ${us.toFixed(2)} |`)
}

if (import.meta.url === `file://${process.argv[1]}`) await runAuthenticateBench()
