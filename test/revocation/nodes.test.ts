import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Store } from '../../src/stores/contract.js'
import { memoryStore } from '../../src/stores/memory.js'
import {
  authed,
  bearer,
  harness,
  login,
  manualClock,
  newUser,
  PASSWORD,
  tokenLogin,
  type Harness,
} from '../harness.js'
import { eventually } from '../services/eventually.js'
import { memoryWire } from './memory-wire.js'

const fast = { probeIntervalMs: 20, probeTimeoutMs: 60 }

/** A store that counts the reads on the hot path, to prove the caches answer. */
function counting(store: Store) {
  const reads = { logins: 0, users: 0, denials: 0 }
  const wrapped: Store = Object.assign(Object.create(null) as Store, store, {
    getLogin: (id: string) => (reads.logins++, store.getLogin(id)),
    getUserById: (id: string) => (reads.users++, store.getUserById(id)),
    isTokenDenied: (jti: string, now: number) => (reads.denials++, store.isTokenDenied(jti, now)),
  })
  return { store: wrapped, reads }
}

/** Several nodes over one store and one bus, as separate processes would be. */
async function cluster(count: number, wire = memoryWire()) {
  const shared = memoryStore()
  const clock = manualClock()
  const nodes = Array.from({ length: count }, () => {
    const { store, reads } = counting(shared)
    return { ...harness({ store, clock, revocation: { bus: wire.transport(), ...fast } }), reads }
  })
  await eventually(() => nodes.every((node) => node.latchkey.revocation.trusted))
  return { nodes, wire, clock }
}

const session = (h: Harness, cookie: string) => h.send('/auth/session', { headers: { cookie } })

async function closeAll(nodes: Harness[]) {
  await Promise.all(nodes.map((node) => node.latchkey.revocation.close()))
}

describe('local caches', () => {
  it('answer a repeated cookie session and Bearer token without reading the store', async () => {
    const { nodes } = await cluster(1)
    const [a] = nodes
    assert.ok(a)
    const { email, session: browser } = await newUser(a)
    const token = await tokenLogin(a, email)
    assert.equal((await session(a, browser.cookie)).status, 200)
    assert.equal(
      (await a.send('/auth/session', { headers: bearer(token.accessToken) })).status,
      200,
    )
    const before = { ...a.reads }
    for (let i = 0; i < 20; i++) {
      assert.equal((await session(a, browser.cookie)).status, 200)
      const response = await a.send('/auth/session', { headers: bearer(token.accessToken) })
      assert.equal(response.status, 200)
    }
    assert.deepEqual(a.reads, before)
    await closeAll(nodes)
  })

  it('a token this node just issued by a refresh is answered without a full check', async () => {
    const { nodes } = await cluster(1)
    const [a] = nodes
    assert.ok(a)
    const { email } = await newUser(a)
    const token = await tokenLogin(a, email)
    const refreshed = await a.send('/auth/refresh', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: token.refreshToken }),
    })
    assert.equal(refreshed.status, 200)
    const { access_token: fresh } = (await refreshed.json()) as { access_token: string }
    const before = { ...a.reads }
    assert.equal((await a.send('/auth/session', { headers: bearer(fresh) })).status, 200)
    assert.deepEqual(a.reads, before)
    // And a revocation still evicts it.
    const out = await a.send('/auth/logout', { method: 'POST', headers: bearer(fresh) })
    assert.equal(out.status, 204)
    assert.equal((await a.send('/auth/session', { headers: bearer(fresh) })).status, 401)
    await closeAll(nodes)
  })

  it('still write activity on time: a cached session renews and then expires when idle', async () => {
    const { nodes, clock } = await cluster(1)
    const [a] = nodes
    assert.ok(a)
    const { session: browser } = await newUser(a)
    assert.equal((await session(a, browser.cookie)).status, 200)
    // Idle 30 min by default; each step stays inside it, so the session must live on.
    for (let i = 0; i < 10; i++) {
      clock.advance(20 * 60_000)
      assert.equal((await session(a, browser.cookie)).status, 200)
    }
    clock.advance(31 * 60_000)
    const expired = await session(a, browser.cookie)
    assert.equal(expired.status, 401)
    await closeAll(nodes)
  })
})

describe('revocation across nodes', () => {
  it('a logout on one node is refused at once on the others, whose caches held the session', async () => {
    const { nodes } = await cluster(3)
    const [a, b, c] = nodes
    assert.ok(a && b && c)
    const { session: browser } = await newUser(a)
    for (const node of nodes) assert.equal((await session(node, browser.cookie)).status, 200)
    const out = await c.send('/auth/logout', {
      method: 'POST',
      headers: authed(browser),
      body: '{}',
    })
    assert.equal(out.status, 204)
    for (const node of [a, b]) {
      const refused = await session(node, browser.cookie)
      assert.equal(refused.status, 401)
    }
    await closeAll(nodes)
  })

  it('a password change on one node kills every other login and token on every node', async () => {
    const { nodes } = await cluster(3)
    const [a, b, c] = nodes
    assert.ok(a && b && c)
    const { email, session: first } = await newUser(a)
    const second = await login(b, email)
    const token = await tokenLogin(a, email)
    for (const node of [a, b]) {
      assert.equal((await session(node, second.cookie)).status, 200)
      const ok = await node.send('/auth/session', { headers: bearer(token.accessToken) })
      assert.equal(ok.status, 200)
    }
    const changed = await c.send('/auth/password', {
      method: 'POST',
      headers: authed(first),
      body: JSON.stringify({ currentPassword: PASSWORD, newPassword: 'a whole new passphrase 42' }),
    })
    assert.equal(changed.status, 200)
    await new Promise((resolve) => setTimeout(resolve, 20))
    for (const node of [a, b]) {
      assert.equal((await session(node, second.cookie)).status, 401)
      const refused = await node.send('/auth/session', { headers: bearer(token.accessToken) })
      assert.equal(refused.status, 401)
      assert.equal(((await refused.json()) as { error: string }).error, 'token_revoked')
    }
    await closeAll(nodes)
  })

  it('a node that lost its bus reads the store, so a revocation it never heard still counts', async () => {
    const wire = memoryWire()
    const { nodes } = await cluster(2, wire)
    const [a, b] = nodes
    assert.ok(a && b)
    const { session: browser } = await newUser(a)
    assert.equal((await session(b, browser.cookie)).status, 200)
    // The bus swallows everything from here on: B never hears of the logout.
    wire.blackhole = true
    const out = await a.send('/auth/logout', {
      method: 'POST',
      headers: authed(browser),
      body: '{}',
    })
    assert.equal(out.status, 204)
    await eventually(() => !b.latchkey.revocation.trusted)
    assert.equal((await session(b, browser.cookie)).status, 401)
    const health = await b.send('/healthz')
    assert.equal(((await health.json()) as { status: string }).status, 'degraded')
    wire.blackhole = false
    await eventually(() => b.latchkey.revocation.trusted)
    assert.equal((await session(b, browser.cookie)).status, 401)
    await closeAll(nodes)
  })

  it('two nodes without a shared bus: the cache of one never hears the other', async () => {
    // Local feeds over one store, a misconfigured deployment: B's cache keeps the session
    // A logged out. It is what the bus prevents, and it shows the tests above can fail.
    const store = memoryStore()
    const clock = manualClock()
    const a = harness({ store, clock })
    const b = harness({ store, clock })
    const { session: browser } = await newUser(a)
    assert.equal((await session(b, browser.cookie)).status, 200)
    await a.send('/auth/logout', { method: 'POST', headers: authed(browser), body: '{}' })
    assert.equal((await session(b, browser.cookie)).status, 200)
  })
})

describe('peek: the caller from memory, without a promise', () => {
  /** What `authenticate` and `peek` read of a request. */
  const request = (headers: Record<string, string>, method = 'GET') => ({
    method,
    headers: new Headers(headers),
  })

  /** `count` nodes; on the first, A, a user logged in both ways, and a request with each. */
  async function loggedIn(count = 1, wire = memoryWire()) {
    const { nodes, clock } = await cluster(count, wire)
    const a = nodes[0]!
    const { email, session: browser } = await newUser(a)
    const token = await tokenLogin(a, email)
    const cookie = request({ cookie: browser.cookie })
    const jwt = request(bearer(token.accessToken))
    return { nodes, clock, a, browser, token, cookie, jwt }
  }

  it('knows nothing of a credential until a full check, then answers it without a store read', async () => {
    const { nodes, a, browser, token, cookie, jwt } = await loggedIn()
    assert.equal(a.latchkey.peek(cookie), undefined)
    assert.equal(a.latchkey.peek(jwt), undefined)
    const full = await a.latchkey.check(cookie)
    assert.equal((await a.latchkey.check(jwt)).via, 'bearer')
    const before = { ...a.reads }
    const fromCookie = a.latchkey.peek(cookie)
    assert.equal(fromCookie?.via, 'cookie')
    assert.equal(fromCookie.user.id, full.user.id)
    assert.equal(fromCookie.login.id, browser.sessionId)
    const fromToken = a.latchkey.peek(jwt)
    assert.equal(fromToken?.via, 'bearer')
    assert.equal(fromToken.login.id, token.loginId)
    assert.equal(fromToken.claims.sid, token.loginId)
    // The scheme in any case, as `authenticate` reads it.
    for (const scheme of ['bearer', 'BEARER', 'bEaReR']) {
      const caller = a.latchkey.peek(request({ authorization: `${scheme} ${token.accessToken}` }))
      assert.equal(caller?.login.id, token.loginId, scheme)
    }
    assert.equal(
      a.latchkey.peek(request({ authorization: `Bearerx${token.accessToken}` })),
      undefined,
    )
    assert.deepEqual(a.reads, before)
    await closeAll(nodes)
  })

  it('forgets a credential the moment another node revokes it', async () => {
    const { nodes, a, browser, token, cookie, jwt } = await loggedIn(2)
    const b = nodes[1]!
    await a.latchkey.check(cookie)
    await a.latchkey.check(jwt)
    assert.ok(a.latchkey.peek(cookie) && a.latchkey.peek(jwt))
    const out = await b.send('/auth/logout', {
      method: 'POST',
      headers: authed(browser),
      body: '{}',
    })
    assert.equal(out.status, 204)
    await eventually(() => a.latchkey.peek(cookie) === undefined, 1000, 'the logout on A')
    assert.ok(a.latchkey.peek(jwt), 'the token of another login is untouched')
    const denied = await b.send('/auth/logout', {
      method: 'POST',
      headers: bearer(token.accessToken),
    })
    assert.equal(denied.status, 204)
    await eventually(() => a.latchkey.peek(jwt) === undefined, 1000, 'the Bearer logout on A')
    assert.equal(await a.latchkey.authenticate(jwt), null)
    await closeAll(nodes)
  })

  it('answers nothing while the bus is lost', async () => {
    const wire = memoryWire()
    const { nodes, a, cookie } = await loggedIn(1, wire)
    await a.latchkey.check(cookie)
    assert.ok(a.latchkey.peek(cookie))
    wire.blackhole = true
    await eventually(() => !a.latchkey.revocation.trusted)
    assert.equal(a.latchkey.peek(cookie), undefined)
    wire.blackhole = false
    await closeAll(nodes)
  })

  it('stops answering when the entry’s time is up: the cache’s age bound, the token’s exp', async () => {
    const { nodes, clock, a, token, cookie, jwt } = await loggedIn()
    await a.latchkey.check(cookie)
    await a.latchkey.check(jwt)
    // Entries are trusted for 60 s at most, whatever the bus says.
    clock.advance(59_000)
    assert.ok(a.latchkey.peek(cookie) && a.latchkey.peek(jwt))
    clock.advance(1_000)
    assert.equal(a.latchkey.peek(cookie), undefined)
    assert.equal(a.latchkey.peek(jwt), undefined)
    await a.latchkey.check(jwt)
    assert.ok(a.latchkey.peek(jwt))
    // Never past the token's own expiry, though the full check allows the clock skew.
    clock.advance(token.expiresIn * 1000 - 60_000)
    assert.equal(a.latchkey.peek(jwt), undefined)
    await a.latchkey.check(jwt)
    assert.equal(a.latchkey.peek(jwt), undefined)
    clock.advance(a.latchkey.config.tokens.skewSeconds * 1000)
    await assert.rejects(a.latchkey.check(jwt), { code: 'token_expired' })
    await closeAll(nodes)
  })

  it('leaves every refusal to authenticate: unsafe cookie requests without CSRF proof, a Bearer token it has not seen beside a cookie it has, a malformed Bearer header', async () => {
    const { nodes, a, browser, cookie } = await loggedIn()
    await a.latchkey.check(cookie)
    const unsafe = request({ cookie: browser.cookie }, 'POST')
    assert.equal(a.latchkey.peek(unsafe), undefined)
    await assert.rejects(a.latchkey.check(unsafe), { code: 'csrf_failed' })
    const proven = request(authed(browser), 'POST')
    assert.equal(a.latchkey.peek(proven)?.via, 'cookie')
    // The Bearer token is what the client chose to present: the cookie must not answer.
    const other = await tokenLogin(a, (await newUser(a)).email)
    const both = request({ cookie: browser.cookie, authorization: `Bearer ${other.accessToken}` })
    assert.equal(a.latchkey.peek(both), undefined)
    assert.equal((await a.latchkey.check(both)).user.id, other.userId)
    const malformed = request({ cookie: browser.cookie, authorization: 'Bearer a b' })
    assert.equal(a.latchkey.peek(malformed), undefined)
    await assert.rejects(a.latchkey.check(malformed), { code: 'invalid_token' })
    await closeAll(nodes)
  })
})
