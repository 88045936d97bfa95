import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { harness, ISSUER, manualClock, signup, type Harness } from '../../test/harness.js'
import type { ClientOptions, LatchkeyClient, LockManagerLike } from './index.js'
import { ClientError, createClient, memoryStorage } from './index.js'

const PASSWORD = 'correct horse battery staple'
const TTL_MS = 600_000

/** The real handler behind a fetch, counting (not answering) calls to /auth/refresh. */
function serverFetch(h: Harness) {
  const counts = { refresh: 0 }
  const fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init)
    if (new URL(request.url).pathname === '/auth/refresh') counts.refresh++
    return h.latchkey.handler(request, { remoteAddress: '203.0.113.7' })
  }
  return { fetch, counts }
}

interface Setup {
  h: Harness
  counts: { refresh: number }
  logouts: string[]
  email: string
  client: (options?: Partial<ClientOptions>) => LatchkeyClient
}

async function setup(): Promise<Setup> {
  const h = harness()
  const { fetch, counts } = serverFetch(h)
  const email = `user-${Math.random()}@example.com`
  assert.equal((await signup(h, email, PASSWORD)).status, 201)
  const logouts: string[] = []
  const client = (options: Partial<ClientOptions> = {}) =>
    createClient({
      baseUrl: ISSUER,
      fetch,
      clock: h.clock,
      locks: null,
      onLogout: (reason) => logouts.push(reason),
      ...options,
    })
  return { h, counts, logouts, email, client }
}

async function status(response: Promise<Response>): Promise<number> {
  return (await response).status
}

/** A Web Locks stand-in: one holder per name at a time, in request order. */
function fakeLocks() {
  const names: string[] = []
  const tails = new Map<string, Promise<unknown>>()
  const locks: LockManagerLike = {
    request<T>(name: string, callback: () => Promise<T>): Promise<T> {
      names.push(name)
      const previous = tails.get(name) ?? Promise.resolve()
      const result = previous.then(callback, callback)
      tails.set(
        name,
        result.catch(() => undefined),
      )
      return result
    },
  }
  return { locks, names }
}

describe('latchkey/client against the real server', () => {
  it('logs in and fetches with the access token', async () => {
    const { client, email } = await setup()
    const c = client()
    const user = await c.login(email, PASSWORD)
    assert.equal(user.email, email)
    const response = await c.fetch('/auth/session')
    assert.equal(response.status, 200)
    const body = (await response.json()) as { user: { email: string } }
    assert.equal(body.user.email, email)
    assert.equal(typeof (await c.accessToken()), 'string')
  })

  it('refuses bad credentials with the server code', async () => {
    const { client, email } = await setup()
    await assert.rejects(client().login(email, 'wrong password entirely'), (error) => {
      assert.ok(error instanceof ClientError)
      assert.equal(error.code, 'invalid_credentials')
      return true
    })
  })

  it('refreshes shortly before expiry, by the injected clock', async () => {
    const { h, client, counts, email } = await setup()
    const c = client()
    await c.login(email, PASSWORD)
    const first = await c.accessToken()
    h.clock.advance(TTL_MS - 31_000)
    assert.equal(await status(c.fetch('/auth/session')), 200)
    assert.equal(counts.refresh, 0)
    h.clock.advance(2_000)
    assert.equal(await status(c.fetch('/auth/session')), 200)
    assert.equal(counts.refresh, 1)
    assert.notEqual(await c.accessToken(), first)
  })

  it('50 concurrent calls at the moment of expiry make one refresh, and all succeed', async () => {
    const { h, client, counts, email } = await setup()
    const c = client()
    await c.login(email, PASSWORD)
    h.clock.advance(TTL_MS)
    const statuses = await Promise.all(
      Array.from({ length: 50 }, () => status(c.fetch('/auth/session'))),
    )
    assert.deepEqual(statuses, Array<number>(50).fill(200))
    assert.equal(counts.refresh, 1)
  })

  it('a 401 for an expired token (clock skew) refreshes once and retries once', async () => {
    const { h, client, counts, email, logouts } = await setup()
    // The client's clock lags: it believes the token fresh when the server does not.
    const c = client({ clock: manualClock() })
    await c.login(email, PASSWORD)
    h.clock.advance(TTL_MS + 31_000) // past the server's 30 s skew allowance
    const response = await c.fetch(new Request(`${ISSUER}/auth/session`))
    assert.equal(response.status, 200)
    assert.equal(counts.refresh, 1)
    assert.deepEqual(logouts, [])
  })

  it('a login revoked elsewhere: one refresh attempt, then onLogout once and state cleared', async () => {
    const { client, counts, email, logouts } = await setup()
    const mine = client()
    await mine.login(email, PASSWORD)
    const other = client({ onLogout: () => assert.fail('the other client stays signed in') })
    await other.login(email, PASSWORD)
    const { session } = (await (await mine.fetch('/auth/session')).json()) as {
      session: { id: string }
    }
    assert.equal(
      await status(other.fetch(`/auth/sessions/${session.id}`, { method: 'DELETE' })),
      204,
    )

    const responses = await Promise.all([mine.fetch('/auth/session'), mine.fetch('/auth/session')])
    assert.deepEqual(
      responses.map((r) => r.status),
      [401, 401],
    )
    assert.equal(counts.refresh, 1)
    assert.equal(logouts.length, 1)
    assert.equal(await mine.session(), null)
    assert.equal(await mine.accessToken(), null)
    await assert.rejects(mine.fetch('/auth/session'), { code: 'not_signed_in' })
    assert.equal(await status(other.fetch('/auth/session')), 200)
  })

  it('two clients sharing one refresh token: the late one is caught as reuse', async () => {
    const { h, client, email } = await setup()
    const firstLogouts: string[] = []
    const secondLogouts: string[] = []
    const firstStorage = memoryStorage()
    const first = client({ storage: firstStorage, onLogout: (r) => firstLogouts.push(r) })
    await first.login(email, PASSWORD)
    const copied = memoryStorage(await firstStorage.get())
    const second = client({ storage: copied, onLogout: (r) => secondLogouts.push(r) })

    h.clock.advance(TTL_MS)
    assert.equal(await status(first.fetch('/auth/session')), 200)
    h.clock.advance(11_000) // past the 10 s grace window
    await assert.rejects(second.fetch('/auth/session'), { code: 'not_signed_in' })
    assert.deepEqual(secondLogouts, ['refresh_token_reused'])
    assert.equal(await copied.get(), null)

    // The whole family died with it: the first client learns on its next call.
    assert.equal(await status(first.fetch('/auth/session')), 401)
    assert.equal(firstLogouts.length, 1)
    assert.equal(await firstStorage.get(), null)
  })

  it('logout ends the login at the server and clears state', async () => {
    const { h, client, email, logouts } = await setup()
    const storage = memoryStorage()
    const c = client({ storage })
    await c.login(email, PASSWORD)
    const tokens = (await storage.get())!
    await c.logout()
    assert.equal(await storage.get(), null)
    assert.equal(await c.session(), null)
    assert.deepEqual(logouts, [])
    const bearer = { authorization: `Bearer ${tokens.accessToken}` }
    assert.equal(await status(h.send('/auth/session', { headers: bearer })), 401)
    const refresh = await h.send('/auth/refresh', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: tokens.refreshToken }),
    })
    assert.equal(refresh.status, 401)
    await assert.rejects(c.fetch('/auth/session'), { code: 'not_signed_in' })
  })

  it('cookie transport: no refresh token in storage, the cookie refreshes', async () => {
    const { h, email } = await setup()
    // A browser's part, not the server's: a cookie jar and same-origin headers.
    const jar = new Map<string, string>()
    let refreshes = 0
    const browserFetch = async (input: RequestInfo | URL, init: RequestInit = {}) => {
      const headers = new Headers(init.headers)
      headers.set('origin', ISSUER)
      headers.set('sec-fetch-site', 'same-origin')
      if (init.credentials === 'include' && jar.size > 0) {
        headers.set('cookie', [...jar].map(([name, value]) => `${name}=${value}`).join('; '))
      }
      const request = new Request(input, { ...init, headers })
      if (new URL(request.url).pathname === '/auth/refresh') refreshes++
      const response = await h.latchkey.handler(request, { remoteAddress: '203.0.113.7' })
      for (const cookie of response.headers.getSetCookie()) {
        const [pair = ''] = cookie.split(';')
        const [name = '', value = ''] = pair.split('=')
        if (/max-age=0/i.test(cookie) || value === '') jar.delete(name)
        else jar.set(name, value)
      }
      return response
    }
    const storage = memoryStorage()
    const c = createClient({
      baseUrl: ISSUER,
      fetch: browserFetch,
      clock: h.clock,
      storage,
      locks: null,
      transport: 'cookie',
    })
    await c.login(email, PASSWORD)
    assert.equal((await storage.get())?.refreshToken, undefined)
    assert.equal(jar.size, 1)
    h.clock.advance(TTL_MS)
    assert.equal(await status(c.fetch('/auth/session')), 200)
    assert.equal(refreshes, 1)
    assert.equal((await storage.get())?.refreshToken, undefined)
    await c.logout()
    assert.equal(await storage.get(), null)
    assert.equal(jar.size, 0)
  })

  it('Web Locks: two clients over one storage take the named lock and refresh once', async () => {
    const { h, client, counts, email } = await setup()
    const { locks, names } = fakeLocks()
    const storage = memoryStorage()
    const tabA = client({ storage, locks })
    const tabB = client({ storage, locks })
    await tabA.login(email, PASSWORD)
    h.clock.advance(TTL_MS)
    const calls = [tabA, tabB, tabA, tabB].map((tab) => status(tab.fetch('/auth/session')))
    assert.deepEqual(await Promise.all(calls), [200, 200, 200, 200])
    assert.equal(counts.refresh, 1)
    assert.deepEqual(names, [`latchkey-refresh:${ISSUER}`, `latchkey-refresh:${ISSUER}`])
  })

  it('Web Locks: navigator.locks is used when present', async (t) => {
    const { h, client, counts, email } = await setup()
    const { locks, names } = fakeLocks()
    const had = Object.getOwnPropertyDescriptor(globalThis, 'navigator')
    Object.defineProperty(globalThis, 'navigator', { value: { locks }, configurable: true })
    t.after(() => {
      if (had === undefined) Reflect.deleteProperty(globalThis, 'navigator')
      else Object.defineProperty(globalThis, 'navigator', had)
    })
    const c = client({ locks: undefined, lockName: 'my-app' })
    await c.login(email, PASSWORD)
    h.clock.advance(TTL_MS)
    assert.equal(await status(c.fetch('/auth/session')), 200)
    assert.equal(counts.refresh, 1)
    assert.deepEqual(names, ['my-app'])
  })
})
