import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { EventName, LatchkeyEvents } from '../src/events.js'
import {
  authed,
  bearer,
  harness,
  login,
  newUser,
  PASSWORD,
  signup,
  tokenLogin,
  type Harness,
} from './harness.js'

type Recorded = { [K in EventName]: { name: K; event: LatchkeyEvents[K] } }[EventName]

function recording(h: Harness) {
  const seen: Recorded[] = []
  const names: EventName[] = [
    'signup',
    'login',
    'loginFailed',
    'logout',
    'refresh',
    'refreshReuse',
    'passwordChange',
    'revocation',
  ]
  for (const name of names) {
    h.latchkey.events.on(name, (event) => {
      seen.push({ name, event } as Recorded)
    })
  }
  return seen
}

const named = <K extends EventName>(seen: Recorded[], name: K) =>
  seen.filter((entry) => entry.name === name).map((entry) => entry.event as LatchkeyEvents[K])

const refreshWith = (h: Harness, token: string) =>
  h.send('/auth/refresh', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refresh_token: token }),
  })

describe('events for an audit log', () => {
  it('reports sign-up, logins, failed logins and logouts, with no secret in them', async () => {
    const h = harness()
    const seen = recording(h)
    const email = 'audit@example.com'
    await signup(h, email)
    const browser = await login(h, email)
    const failed = await h.send('/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: 'not the password at all' }),
    })
    assert.equal(failed.status, 401)
    await h.send('/auth/logout', { method: 'POST', headers: authed(browser), body: '{}' })

    const [signedUp] = named(seen, 'signup')
    assert.equal(signedUp?.email, email)
    assert.deepEqual(
      named(seen, 'login').map(({ loginId, kind }) => ({ loginId, kind })),
      [{ loginId: browser.sessionId, kind: 'session' }],
    )
    assert.deepEqual(named(seen, 'loginFailed'), [{ email, ip: '203.0.113.7' }])
    assert.deepEqual(named(seen, 'logout'), [
      { userId: browser.userId, loginId: browser.sessionId, scope: 'local' },
    ])
    assert.deepEqual(named(seen, 'revocation').at(-1)?.facts, [
      { type: 'login', loginId: browser.sessionId, userId: browser.userId },
    ])
    const serialized = JSON.stringify(seen)
    assert.ok(!serialized.includes(PASSWORD))
    assert.ok(!serialized.includes(browser.cookie.split('=')[1]!.split('.')[1]!))
  })

  it('reports refreshes and a detected reuse, then the family revoked', async () => {
    const h = harness()
    const seen = recording(h)
    const { email } = await newUser(h)
    const token = await tokenLogin(h, email)
    assert.equal((await refreshWith(h, token.refreshToken)).status, 200)
    assert.deepEqual(named(seen, 'refresh'), [{ userId: token.userId, loginId: token.loginId }])
    h.clock.advance(60_000)
    const reused = await refreshWith(h, token.refreshToken)
    assert.equal(reused.status, 401)
    assert.deepEqual(named(seen, 'refreshReuse'), [
      { userId: token.userId, loginId: token.loginId },
    ])
    assert.deepEqual(named(seen, 'revocation').at(-1)?.facts, [
      { type: 'login', loginId: token.loginId, userId: token.userId },
    ])
  })

  it('reports a password change with the version bump as a revocation', async () => {
    const h = harness()
    const seen = recording(h)
    const { session } = await newUser(h)
    const changed = await h.send('/auth/password', {
      method: 'POST',
      headers: authed(session),
      body: JSON.stringify({ currentPassword: PASSWORD, newPassword: 'brand new passphrase 77' }),
    })
    assert.equal(changed.status, 200)
    assert.deepEqual(named(seen, 'passwordChange'), [{ userId: session.userId }])
    const facts = named(seen, 'revocation').flatMap((event) => event.facts)
    assert.ok(facts.some((fact) => fact.type === 'user' && fact.userId === session.userId))
  })

  it('a handler that throws or rejects is reported and never breaks the request', async () => {
    const h = harness({
      events: {
        login: () => {
          throw new Error('audit log down')
        },
        logout: () => Promise.reject(new Error('audit log still down')),
      },
    })
    const { email } = await newUser(h)
    const token = await tokenLogin(h, email)
    const out = await h.send('/auth/logout', { method: 'POST', headers: bearer(token.accessToken) })
    assert.equal(out.status, 204)
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(h.errors.length, 3)
  })
})
