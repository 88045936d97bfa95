import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, rmSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { inspect } from 'node:util'
import type { BrowserSession, Harness, ErrorBody } from '../../test/harness.js'
import {
  authed,
  browserHeaders,
  fastHasher,
  harness,
  ISSUER,
  login,
  newUser,
  PASSWORD,
  SECRET,
  sessionCookieOf,
} from '../../test/harness.js'
import { createLatchkey } from '../index.js'
import type { Store } from '../stores/contract.js'
import { memoryStore } from '../stores/memory.js'
import { openSqliteStore } from '../stores/sql/sqlite.js'
import { SESSION_COOKIE } from './cookies.js'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/** The raw `id.secret` token inside a `name=value` cookie header. */
function tokenOf(session: BrowserSession): string {
  return session.cookie.slice(session.cookie.indexOf('=') + 1)
}

function split(token: string): { id: string; secret: string } {
  const [id = '', secret = ''] = token.split('.')
  return { id, secret }
}

/** A token of the issued shape that the server never issued. */
function forgedToken(): string {
  return `${randomBytes(16).toString('base64url')}.${randomBytes(32).toString('base64url')}`
}

/** `GET /auth/session` with only a cookie header: status and error code. */
async function probe(h: Harness, cookie: string): Promise<{ status: number; error?: string }> {
  const response = await h.send('/auth/session', { headers: { cookie } })
  const body = (await response.json()) as Partial<ErrorBody>
  return body.error === undefined
    ? { status: response.status }
    : { status: response.status, error: body.error }
}

async function alive(h: Harness, session: BrowserSession): Promise<boolean> {
  return (await probe(h, session.cookie)).status === 200
}

function loginRequest(h: Harness, email: string, extraHeaders: Record<string, string> = {}) {
  return h.send('/auth/login', {
    method: 'POST',
    headers: browserHeaders(extraHeaders),
    body: JSON.stringify({ email, password: PASSWORD, mode: 'session' }),
  })
}

/** The attributes of a Set-Cookie header, names lowercased; the first pair under `''`. */
function cookieAttributes(setCookie: string): Map<string, string> {
  const [pair = '', ...attributes] = setCookie.split(';').map((part) => part.trim())
  const result = new Map<string, string>([['', pair]])
  for (const attribute of attributes) {
    const eq = attribute.indexOf('=')
    const name = (eq === -1 ? attribute : attribute.slice(0, eq)).toLowerCase()
    result.set(name, eq === -1 ? '' : attribute.slice(eq + 1))
  }
  return result
}

function assertSessionCookie(setCookie: string, maxAge: number): void {
  const attributes = cookieAttributes(setCookie)
  assert.ok(attributes.get('')!.startsWith(`${SESSION_COOKIE}=`), setCookie)
  assert.ok(SESSION_COOKIE.startsWith('__Host-'))
  assert.equal(attributes.get('secure'), '')
  assert.equal(attributes.get('httponly'), '')
  assert.equal(attributes.get('path'), '/')
  assert.equal(attributes.has('domain'), false, 'a __Host- cookie must not name a Domain')
  assert.equal(attributes.get('samesite')?.toLowerCase(), 'lax')
  assert.equal(attributes.get('max-age'), String(maxAge))
}

/** A store whose touchLogin calls are counted. */
function countingTouches(base: Store = memoryStore()) {
  const counter = { touches: 0 }
  const store: Store = {
    ...base,
    touchLogin: (...args) => {
      counter.touches += 1
      return base.touchLogin(...args)
    },
  }
  return { store, counter }
}

describe('session fixation', () => {
  it('refuses a well-formed token that the server never issued', async () => {
    const h = harness()
    await newUser(h)
    const response = await h.send('/auth/session', {
      headers: { cookie: `${SESSION_COOKIE}=${forgedToken()}` },
    })
    assert.equal(response.status, 401)
    assert.equal(((await response.json()) as ErrorBody).error, 'unauthorized')
    assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer realm=/)
    assert.deepEqual(h.errors, [])
  })

  it('never adopts a planted token at login: a new id is issued and the planted one stays dead', async () => {
    const h = harness()
    const { email } = await newUser(h)
    const planted = forgedToken()
    const response = await loginRequest(h, email, { cookie: `${SESSION_COOKIE}=${planted}` })
    assert.equal(response.status, 200)
    const issued = sessionCookieOf(response)
    const issuedToken = issued.slice(issued.indexOf('=') + 1)
    assert.notEqual(split(issuedToken).id, split(planted).id)
    assert.notEqual(split(issuedToken).secret, split(planted).secret)
    assert.equal(await h.store.getLogin(split(planted).id), null, 'no record under the planted id')
    assert.deepEqual(await probe(h, `${SESSION_COOKIE}=${planted}`), {
      status: 401,
      error: 'unauthorized',
    })
    assert.equal((await probe(h, issued)).status, 200)
  })

  it('never adopts a planted token that reuses a live session id with a secret of its own', async () => {
    const h = harness()
    const { email, session: victim } = await newUser(h)
    const planted = `${victim.sessionId}.${randomBytes(32).toString('base64url')}`
    const response = await loginRequest(h, email, { cookie: `${SESSION_COOKIE}=${planted}` })
    assert.equal(response.status, 200)
    const issued = sessionCookieOf(response)
    assert.notEqual(split(issued.slice(issued.indexOf('=') + 1)).id, victim.sessionId)
    assert.equal((await probe(h, `${SESSION_COOKIE}=${planted}`)).status, 401)
    // A forged cookie must not be able to end someone's real session either.
    assert.equal(await alive(h, victim), true)
  })

  it('a login while presenting a valid session issues a new id and revokes the old one', async () => {
    const h = harness()
    const { email, session: old } = await newUser(h)
    const response = await loginRequest(h, email, { cookie: old.cookie })
    assert.equal(response.status, 200)
    const fresh = sessionCookieOf(response)
    assert.notEqual(fresh, old.cookie)
    assert.notEqual(split(fresh.slice(fresh.indexOf('=') + 1)).id, old.sessionId)
    assert.deepEqual(await probe(h, old.cookie), { status: 401, error: 'session_revoked' })
    assert.equal((await probe(h, fresh)).status, 200)
    assert.equal((await h.store.getLogin(old.sessionId))?.revokedAt !== null, true)
  })

  it('a password change issues a new id and every earlier session dies, the current one included', async () => {
    const h = harness()
    const { email, session: current } = await newUser(h)
    const other = await login(h, email)
    const response = await h.send('/auth/password', {
      method: 'POST',
      headers: authed(current),
      body: JSON.stringify({
        currentPassword: PASSWORD,
        newPassword: 'an entirely new passphrase',
      }),
    })
    assert.equal(response.status, 200)
    const fresh = sessionCookieOf(response)
    const body = (await response.json()) as { session: { id: string }; csrfToken: string }
    assert.notEqual(body.session.id, current.sessionId)
    assert.notEqual(body.session.id, other.sessionId)
    assert.notEqual(body.csrfToken, current.csrfToken)
    assert.deepEqual(await probe(h, current.cookie), { status: 401, error: 'session_revoked' })
    assert.deepEqual(await probe(h, other.cookie), { status: 401, error: 'session_revoked' })
    assert.equal((await probe(h, fresh)).status, 200)
    const user = await h.store.getUserByEmail(email.toLowerCase())
    assert.equal(user?.tokenVersion, 1)
  })
})

describe('session token shape and entropy', () => {
  it('is a 16-byte id and a 32-byte secret, base64url without padding', async () => {
    const h = harness()
    const { session } = await newUser(h)
    const { id, secret } = split(tokenOf(session))
    assert.match(id, /^[A-Za-z0-9_-]{22}$/)
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/)
    assert.equal(Buffer.from(id, 'base64url').length, 16)
    assert.equal(Buffer.from(secret, 'base64url').length, 32)
    assert.equal(Buffer.from(secret, 'base64url').toString('base64url'), secret)
    assert.equal(id, session.sessionId)
  })

  it('stores only the SHA-256 of the secret, never the secret itself', async () => {
    const h = harness()
    const { session } = await newUser(h)
    const { id, secret } = split(tokenOf(session))
    const record = await h.store.getLogin(id)
    assert.ok(record !== null && record.secretHash !== null)
    const expected = createHash('sha256').update(secret, 'utf8').digest()
    assert.deepEqual(Buffer.from(record.secretHash), expected)
    const raw = Buffer.from(secret, 'base64url')
    const dump = JSON.stringify({
      ...record,
      secretHash: [
        Buffer.from(record.secretHash).toString('hex'),
        Buffer.from(record.secretHash).toString('base64'),
        Buffer.from(record.secretHash).toString('base64url'),
        Buffer.from(record.secretHash).toString('latin1'),
      ],
    })
    assert.equal(dump.includes(secret), false)
    assert.equal(dump.includes(raw.toString('hex')), false)
    assert.equal(dump.includes(raw.toString('base64')), false)
    assert.equal(Buffer.from(record.secretHash).includes(raw), false)
  })

  it('a leaked SQLite database file holds no usable session token', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'latchkey-session-'))
    const filename = join(dir, 'latchkey.db')
    const store = await openSqliteStore({ filename })
    try {
      const h = harness({ store })
      const { session } = await newUser(h)
      const { secret } = split(tokenOf(session))
      const files = [filename, `${filename}-wal`].map((file) => {
        try {
          return readFileSync(file)
        } catch {
          return Buffer.alloc(0)
        }
      })
      const raw = Buffer.from(secret, 'base64url')
      const hash = createHash('sha256').update(secret, 'utf8').digest()
      const hashForms = [hash, hash.toString('hex'), hash.toString('base64url')]
      assert.ok(
        files.some((bytes) => hashForms.some((form) => bytes.includes(form))),
        'the hash is found, so the search works',
      )
      for (const bytes of files) {
        assert.equal(bytes.includes(Buffer.from(secret)), false)
        assert.equal(bytes.includes(raw), false)
      }
    } finally {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('1000 issued tokens are unique and their secret bits look uniformly random', async () => {
    const h = harness()
    const { email } = await newUser(h)
    const user = (await h.store.getUserByEmail(email.toLowerCase()))!
    const client = { ip: '203.0.113.7', userAgent: null }
    const ids = new Set<string>()
    const secrets = new Set<string>()
    const ones = new Array<number>(256).fill(0)
    for (let i = 0; i < 1000; i += 1) {
      const { token } = await h.latchkey.sessions.create(user, client, false)
      const { id, secret } = split(token)
      ids.add(id)
      secrets.add(secret)
      const bytes = Buffer.from(secret, 'base64url')
      for (let bit = 0; bit < 256; bit += 1) ones[bit]! += (bytes[bit >> 3]! >> (bit & 7)) & 1
    }
    assert.equal(ids.size, 1000)
    assert.equal(secrets.size, 1000)
    // Each bit is set in about half of the secrets: a counter, a timestamp or a constant
    // would leave bits stuck. 6 standard deviations: a false alarm is practically impossible.
    for (const count of ones) assert.ok(count > 405 && count < 595, `bit frequency ${count}`)
  })

  it('refuses a tampered secret with a valid id, and the real session lives on', async () => {
    const h = harness()
    const { session } = await newUser(h)
    const { id, secret } = split(tokenOf(session))
    const flipped = (secret[0] === 'A' ? 'B' : 'A') + secret.slice(1)
    for (const tampered of [
      `${id}.${flipped}`,
      `${id}.${secret.slice(0, -1)}`,
      `${id}.${secret}A`,
      `${id}.`,
      id,
      `${id}.${secret}`.toUpperCase(),
    ]) {
      const result = await probe(h, `${SESSION_COOKIE}=${tampered}`)
      assert.deepEqual(result, { status: 401, error: 'unauthorized' }, tampered)
    }
    assert.equal(await alive(h, session), true)
  })

  it('never accepts a token from the URL', async () => {
    const h = harness()
    const { session } = await newUser(h)
    const token = tokenOf(session)
    for (const query of [`session=${token}`, `${SESSION_COOKIE}=${token}`, `token=${token}`]) {
      const response = await h.send(`/auth/session?${query}`)
      assert.equal(response.status, 401, query)
      assert.equal(((await response.json()) as ErrorBody).error, 'unauthorized')
    }
  })
})

describe('session tokens never leak', () => {
  it('appears in no response body, no header but Set-Cookie, no URL and no error', async () => {
    const h = harness()
    const { email, session } = await newUser(h)
    const second = await login(h, email)
    const secrets = [split(tokenOf(session)).secret, split(tokenOf(second)).secret]
    const responses: Response[] = []
    const send = async (path: string, init?: RequestInit) => {
      const response = await h.send(path, init)
      responses.push(response)
      return response
    }
    await send('/auth/session', { headers: { cookie: session.cookie } })
    await send('/auth/sessions', { headers: { cookie: session.cookie } })
    const { id, secret } = split(tokenOf(session))
    await send('/auth/session', { headers: { cookie: `${SESSION_COOKIE}=${id}.${secret}x` } })
    await send('/auth/logout', {
      method: 'POST',
      headers: { ...authed(session), 'sec-fetch-site': 'cross-site' },
    })
    await send('/auth/logout', { method: 'POST', headers: authed(session, { 'x-csrf-token': '' }) })
    await send(`/auth/sessions/${second.sessionId}`, { method: 'DELETE', headers: authed(session) })
    await send('/auth/session', { headers: { cookie: second.cookie } })
    const change = await send('/auth/password', {
      method: 'POST',
      headers: authed(session),
      body: JSON.stringify({ currentPassword: PASSWORD, newPassword: 'a brand new passphrase' }),
    })
    const fresh = sessionCookieOf(change)
    secrets.push(split(fresh.slice(fresh.indexOf('=') + 1)).secret)
    await send('/auth/session', { headers: { cookie: session.cookie } })
    await send('/auth/logout', {
      method: 'POST',
      headers: browserHeaders({ cookie: fresh, 'x-csrf-token': 'wrong' }),
    })

    assert.equal(responses.length, 10)
    for (const response of responses) {
      const text = await response.text()
      assert.equal(response.headers.has('location'), false)
      for (const leaked of secrets) {
        assert.equal(text.includes(leaked), false, `body of a ${response.status}`)
        for (const [name, value] of response.headers) {
          if (name === 'set-cookie') continue
          assert.equal(value.includes(leaked), false, `header ${name}`)
        }
      }
    }
    assert.deepEqual(h.errors, [])
  })

  it('appears in no log line or error, even when the store fails mid-request', async () => {
    const base = memoryStore()
    let failing = false
    const store: Store = {
      ...base,
      getLogin: (id) =>
        failing ? Promise.reject(new Error('connection reset by peer')) : base.getLogin(id),
    }
    const logged: string[] = []
    const latchkey = createLatchkey({
      store,
      issuer: ISSUER,
      secret: SECRET,
      passwordHasher: fastHasher,
      logger: { error: (message, error) => logged.push(message, inspect(error, { depth: 9 })) },
    })
    const h = harness({ store })
    const { session } = await newUser(h)
    failing = true
    const response = await latchkey.handler(
      new Request(new URL('/auth/session', ISSUER), { headers: { cookie: session.cookie } }),
    )
    assert.equal(response.status, 500)
    const body = (await response.json()) as ErrorBody
    assert.deepEqual(Object.keys(body).sort(), ['error', 'message'])
    assert.ok(logged.length > 0, 'the failure was logged')
    const { id, secret } = split(tokenOf(session))
    for (const line of [...logged, JSON.stringify(body)]) {
      assert.equal(line.includes(secret), false, line)
      assert.equal(line.includes(`${id}.`), false, line)
    }
  })
})

describe('session cookie attributes', () => {
  it('login sets a __Host- cookie: Secure, HttpOnly, Path=/, no Domain, SameSite=Lax, Max-Age 12 h', async () => {
    const h = harness()
    const { email } = await newUser(h)
    const response = await loginRequest(h, email)
    const cookies = response.headers.getSetCookie()
    assert.equal(cookies.length, 1)
    assertSessionCookie(cookies[0]!, (12 * HOUR) / 1000)
    assert.equal(response.headers.get('cache-control'), 'no-store')
  })

  it('a remembered login gets the longer lifetime in the cookie and in the store', async () => {
    const h = harness()
    const { email } = await newUser(h)
    const response = await h.send('/auth/login', {
      method: 'POST',
      headers: browserHeaders(),
      body: JSON.stringify({ email, password: PASSWORD, remember: true }),
    })
    assert.equal(response.status, 200)
    assertSessionCookie(response.headers.getSetCookie()[0]!, (30 * DAY) / 1000)
    assert.equal(response.headers.get('cache-control'), 'no-store')
    const { session } = (await response.json()) as { session: { id: string } }
    const record = await h.store.getLogin(session.id)
    assert.equal(record!.absoluteExpiresAt - record!.createdAt, 30 * DAY)
    assert.equal(record!.idleExpiresAt - record!.createdAt, 7 * DAY)
  })

  it('a password change sets the new cookie with the same attributes and no-store', async () => {
    const h = harness()
    const { session } = await newUser(h)
    const response = await h.send('/auth/password', {
      method: 'POST',
      headers: authed(session),
      body: JSON.stringify({ currentPassword: PASSWORD, newPassword: 'another fine passphrase' }),
    })
    assert.equal(response.status, 200)
    assertSessionCookie(response.headers.getSetCookie()[0]!, (12 * HOUR) / 1000)
    assert.equal(response.headers.get('cache-control'), 'no-store')
  })

  for (const scope of ['local', 'global'] as const) {
    it(`logout (${scope}) clears the cookie with the same attributes, Max-Age=0 and no-store`, async () => {
      const h = harness()
      const { session } = await newUser(h)
      const response = await h.send('/auth/logout', {
        method: 'POST',
        headers: authed(session),
        body: JSON.stringify({ scope }),
      })
      assert.equal(response.status, 204)
      const cookies = response.headers.getSetCookie()
      assert.equal(cookies.length, 1)
      assertSessionCookie(cookies[0]!, 0)
      assert.equal(cookieAttributes(cookies[0]!).get(''), `${SESSION_COOKIE}=`)
      assert.equal(response.headers.get('cache-control'), 'no-store')
    })
  }

  it('logout without a live session still clears the cookie, with no-store', async () => {
    const h = harness()
    const response = await h.send('/auth/logout', {
      method: 'POST',
      headers: browserHeaders({ cookie: `${SESSION_COOKIE}=${forgedToken()}` }),
    })
    assert.equal(response.status, 204)
    assertSessionCookie(response.headers.getSetCookie()[0]!, 0)
    assert.equal(response.headers.get('cache-control'), 'no-store')
  })

  it('revoking the current session by id clears the cookie, with no-store', async () => {
    const h = harness()
    const { session } = await newUser(h)
    const response = await h.send(`/auth/sessions/${session.sessionId}`, {
      method: 'DELETE',
      headers: authed(session),
    })
    assert.equal(response.status, 204)
    assertSessionCookie(response.headers.getSetCookie()[0]!, 0)
    assert.equal(response.headers.get('cache-control'), 'no-store')
    assert.deepEqual(await probe(h, session.cookie), { status: 401, error: 'session_revoked' })
  })
})

describe('session timeouts', () => {
  it('an idle session expires after exactly 30 minutes', async () => {
    const h = harness()
    const { session } = await newUser(h)
    h.clock.advance(30 * MINUTE)
    const response = await h.send('/auth/session', { headers: { cookie: session.cookie } })
    assert.equal(response.status, 401)
    assert.equal(((await response.json()) as ErrorBody).error, 'session_expired')
    assert.match(
      response.headers.get('www-authenticate') ?? '',
      /error_description="session_expired"/,
    )
    // Expired stays expired: nothing later brings it back.
    h.clock.advance(1)
    assert.deepEqual(await probe(h, session.cookie), { status: 401, error: 'session_expired' })
  })

  it('an idle session is still alive a moment before 30 minutes', async () => {
    const h = harness()
    const { session } = await newUser(h)
    h.clock.advance(30 * MINUTE - 1)
    assert.equal(await alive(h, session), true)
  })

  it('an active session expires exactly at the 12-hour absolute bound', async () => {
    const h = harness()
    const { session } = await newUser(h)
    for (let minutes = 20; minutes < 12 * 60; minutes += 20) {
      h.clock.advance(20 * MINUTE)
      assert.equal(await alive(h, session), true, `alive after ${minutes} minutes`)
    }
    h.clock.advance(20 * MINUTE - 1)
    assert.equal(await alive(h, session), true, 'alive a moment before 12 hours')
    h.clock.advance(1)
    assert.deepEqual(await probe(h, session.cookie), { status: 401, error: 'session_expired' })
  })

  it('an unsafe request on an expired session is refused and changes nothing', async () => {
    const h = harness()
    const { email, session } = await newUser(h)
    const other = await login(h, email)
    h.clock.advance(29 * MINUTE)
    assert.equal(await alive(h, other), true)
    h.clock.advance(MINUTE)
    const response = await h.send(`/auth/sessions/${other.sessionId}`, {
      method: 'DELETE',
      headers: authed(session),
    })
    assert.equal(response.status, 401)
    assert.equal(((await response.json()) as ErrorBody).error, 'session_expired')
    assert.equal(await alive(h, other), true)
  })

  it('a remembered session outlives the idle window but not 7 idle days nor 30 days', async () => {
    const h = harness()
    const { email } = await newUser(h)
    const remembered = await login(h, email, PASSWORD, { remember: true })
    const idle = await login(h, email, PASSWORD, { remember: true })
    const ordinary = await login(h, email)
    let elapsed = 0
    const at = (ms: number) => {
      h.clock.advance(ms - elapsed)
      elapsed = ms
    }
    at(31 * MINUTE)
    assert.equal(await alive(h, remembered), true)
    assert.deepEqual(await probe(h, ordinary.cookie), { status: 401, error: 'session_expired' })
    // Renewal writes once per tenth of the 7-day idle window, so activity on day 2 counts.
    at(2 * DAY)
    assert.equal(await alive(h, remembered), true)
    at(7 * DAY)
    assert.deepEqual(await probe(h, idle.cookie), { status: 401, error: 'session_expired' })
    for (const day of [7, 13, 19, 25]) {
      at(day * DAY)
      assert.equal(await alive(h, remembered), true, `alive on day ${day}`)
    }
    at(30 * DAY - 1)
    assert.equal(await alive(h, remembered), true, 'alive a moment before 30 days')
    at(30 * DAY)
    assert.deepEqual(await probe(h, remembered.cookie), { status: 401, error: 'session_expired' })
  })
})

describe('session renewal', () => {
  it('50 requests within a minute write the activity at most once', async () => {
    const { store, counter } = countingTouches()
    const h = harness({ store })
    const { session } = await newUser(h)
    counter.touches = 0
    for (let i = 0; i < 50; i += 1) {
      h.clock.advance(1_000)
      assert.equal(await alive(h, session), true)
    }
    assert.ok(counter.touches <= 1, `${counter.touches} writes`)
  })

  it('after 3 minutes one request writes once, and the next ones do not', async () => {
    const { store, counter } = countingTouches()
    const h = harness({ store })
    const { session } = await newUser(h)
    h.clock.advance(3 * MINUTE)
    counter.touches = 0
    assert.equal(await alive(h, session), true)
    assert.equal(counter.touches, 1)
    for (let i = 0; i < 10; i += 1) assert.equal(await alive(h, session), true)
    assert.equal(counter.touches, 1)
    const record = await h.store.getLogin(session.sessionId)
    assert.equal(record?.idleExpiresAt, record!.createdAt + 33 * MINUTE)
  })

  it('activity slides the idle expiry past the first 30 minutes', async () => {
    const h = harness()
    const { session } = await newUser(h)
    h.clock.advance(20 * MINUTE)
    assert.equal(await alive(h, session), true)
    h.clock.advance(25 * MINUTE)
    assert.equal(await alive(h, session), true, 'alive 45 minutes after login')
    h.clock.advance(30 * MINUTE)
    assert.deepEqual(await probe(h, session.cookie), { status: 401, error: 'session_expired' })
  })

  it('activity that was not written does not extend the session beyond its last write', async () => {
    const h = harness()
    const { session } = await newUser(h)
    h.clock.advance(2 * MINUTE)
    assert.equal(await alive(h, session), true)
    h.clock.advance(28 * MINUTE)
    assert.deepEqual(await probe(h, session.cookie), { status: 401, error: 'session_expired' })
  })
})

describe('logout racing an in-flight request', () => {
  it('the in-flight request fails and the session stays revoked', async () => {
    const base = memoryStore()
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    let reached!: () => void
    const heldAtWrite = new Promise<void>((resolve) => (reached = resolve))
    let holdNext = false
    const store: Store = {
      ...base,
      async touchLogin(...args) {
        if (holdNext) {
          // The in-flight request has read a live session and now waits to record activity.
          holdNext = false
          reached()
          await gate
        }
        return base.touchLogin(...args)
      },
    }
    const h = harness({ store })
    const { session } = await newUser(h)
    // Past the renewal fraction, so that validation writes the activity.
    h.clock.advance(10 * MINUTE)
    holdNext = true
    const inFlight = h.send('/auth/session', { headers: { cookie: session.cookie } })
    await heldAtWrite

    const logout = await h.send('/auth/logout', { method: 'POST', headers: authed(session) })
    assert.equal(logout.status, 204)
    release()

    const response = await inFlight
    assert.equal(response.status, 401)
    assert.equal(((await response.json()) as ErrorBody).error, 'session_revoked')
    assert.equal(response.headers.getSetCookie().length, 0)
    assert.notEqual((await h.store.getLogin(session.sessionId))?.revokedAt, null)
    h.clock.advance(5 * MINUTE)
    assert.deepEqual(await probe(h, session.cookie), { status: 401, error: 'session_revoked' })
    assert.deepEqual(h.errors, [])
  })

  it('a request after the logout never brings the session back, on any node', async () => {
    const store = memoryStore()
    const a = harness({ store })
    const b = harness({ store })
    const { session } = await newUser(a)
    a.clock.advance(10 * MINUTE)
    b.clock.advance(10 * MINUTE)
    const [logout, racing] = await Promise.all([
      a.send('/auth/logout', { method: 'POST', headers: authed(session) }),
      b.send('/auth/session', { headers: { cookie: session.cookie } }),
    ])
    assert.equal(logout.status, 204)
    assert.ok([200, 401].includes(racing.status))
    for (const node of [a, b]) {
      node.clock.advance(5 * MINUTE)
      assert.deepEqual(await probe(node, session.cookie), { status: 401, error: 'session_revoked' })
    }
  })
})

describe('logout scopes', () => {
  async function threeSessions() {
    const h = harness()
    const { email, session: current } = await newUser(h)
    const sibling = await login(h, email)
    const { email: otherEmail, session: stranger } = await newUser(h)
    const versionOf = async (address: string) =>
      (await h.store.getUserByEmail(address.toLowerCase()))!.tokenVersion
    return { h, email, otherEmail, current, sibling, stranger, versionOf }
  }

  it('local ends only the current session', async () => {
    const { h, email, current, sibling, stranger, versionOf } = await threeSessions()
    const response = await h.send('/auth/logout', {
      method: 'POST',
      headers: authed(current),
      body: JSON.stringify({ scope: 'local' }),
    })
    assert.equal(response.status, 204)
    assert.deepEqual(await probe(h, current.cookie), { status: 401, error: 'session_revoked' })
    assert.equal(await alive(h, sibling), true)
    assert.equal(await alive(h, stranger), true)
    assert.equal(await versionOf(email), 0)
  })

  it('no body means local', async () => {
    const { h, current, sibling } = await threeSessions()
    const response = await h.send('/auth/logout', { method: 'POST', headers: authed(current) })
    assert.equal(response.status, 204)
    assert.deepEqual(await probe(h, current.cookie), { status: 401, error: 'session_revoked' })
    assert.equal(await alive(h, sibling), true)
  })

  it('others ends every other session of the user and keeps the current one and its cookie', async () => {
    const { h, email, current, sibling, stranger, versionOf } = await threeSessions()
    const response = await h.send('/auth/logout', {
      method: 'POST',
      headers: authed(current),
      body: JSON.stringify({ scope: 'others' }),
    })
    assert.equal(response.status, 204)
    assert.equal(response.headers.getSetCookie().length, 0)
    assert.equal(await alive(h, current), true)
    assert.deepEqual(await probe(h, sibling.cookie), { status: 401, error: 'session_revoked' })
    assert.equal(await alive(h, stranger), true)
    assert.equal(await versionOf(email), 0)
  })

  it('global ends every session of the user, bumps the token version, and spares other users', async () => {
    const { h, email, otherEmail, current, sibling, stranger, versionOf } = await threeSessions()
    const response = await h.send('/auth/logout', {
      method: 'POST',
      headers: authed(current),
      body: JSON.stringify({ scope: 'global' }),
    })
    assert.equal(response.status, 204)
    assert.deepEqual(await probe(h, current.cookie), { status: 401, error: 'session_revoked' })
    assert.deepEqual(await probe(h, sibling.cookie), { status: 401, error: 'session_revoked' })
    assert.equal(await alive(h, stranger), true)
    assert.equal(await versionOf(email), 1)
    assert.equal(await versionOf(otherEmail), 0)
  })

  it('an unknown scope is refused and ends nothing', async () => {
    const { h, current, sibling } = await threeSessions()
    const response = await h.send('/auth/logout', {
      method: 'POST',
      headers: authed(current),
      body: JSON.stringify({ scope: 'everything' }),
    })
    assert.equal(response.status, 400)
    assert.equal(((await response.json()) as ErrorBody).error, 'invalid_request')
    assert.equal(await alive(h, current), true)
    assert.equal(await alive(h, sibling), true)
  })
})
