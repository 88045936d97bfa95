/**
 * One behavioural suite for every framework adapter. A driver builds the framework's app
 * with the routes below and answers requests through it; the suite only speaks HTTP.
 *
 * The app a driver builds:
 * - the Latchkey API mounted under `fixture.prefix` (`''` is the root);
 * - `GET` and `POST /me`: `requireAuth()`, answering `{ userId, via }` (as every guarded route);
 * - `GET /cookie-only`: `requireAuth({ via: 'cookie' })`;
 * - `GET /bearer-only`: `requireAuth({ via: 'bearer' })`;
 * - `GET /admin`: `requireAuth({ roles: ['admin'] })`, with `fixture.rolesOf` given to the adapter;
 * - `GET /fresh`: `requireAuth({ freshWithinMs: FRESH_MS })`;
 * - `GET /api/claims`: `requireToken(fixture.verifier)`, answering `{ sub }`;
 * - `GET /api/admin`: `requireToken(fixture.verifier, { roles: ['admin'] })`;
 * - `GET /open`: no guard, answering `{ open: true }`.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { RolesOf } from '../../src/adapters/guard.js'
import type { Latchkey } from '../../src/index.js'
import { createVerifier, type Verifier } from '../../src/verify/index.js'
import {
  ISSUER,
  PASSWORD,
  browserHeaders,
  harness,
  sessionCookieOf,
  type ErrorBody,
  type Harness,
} from '../harness.js'

export const FRESH_MS = 5 * 60_000

/** What a driver is given to build its app from. */
export interface Fixture {
  latchkey: Latchkey
  verifier: Verifier
  rolesOf: RolesOf
  prefix: string
}

/** A running app: requests by path, as a client would send them. */
export interface AppUnderTest {
  fetch(path: string, init?: RequestInit): Promise<Response>
  close(): Promise<void>
}

export type Driver = (fixture: Fixture) => Promise<AppUnderTest>

interface Guarded {
  userId: string
  via: string
}

/** The challenge of a Bearer token refused for lacking the `admin` role. */
const scopeChallenge = (realm: string) =>
  `Bearer realm="${realm}", error="insufficient_scope", scope="admin"`

/** Runs the adapter suite against one framework's driver. */
export function adapterSuite(name: string, driver: Driver): void {
  describe(`${name} adapter`, () => {
    let h: Harness
    let app: AppUnderTest
    let prefixed: AppUnderTest

    before(async () => {
      // Every test signs up through the app from one address: the limits are not under test.
      const generous = { limit: 10_000, windowMs: 60_000 }
      h = harness({
        rateLimits: { loginPerIp: generous, loginPerAccount: generous, signupPerIp: generous },
      })
      const verifier = createVerifier({
        jwksUrl: `${ISSUER}/.well-known/jwks.json`,
        issuer: ISSUER,
        audience: ISSUER,
        clock: h.clock,
        // The JWKS comes straight from the handler: no network in the suite.
        fetch: ((input: string | URL) =>
          h.latchkey.handler(new Request(String(input)))) as typeof fetch,
      })
      const rolesOf: RolesOf = (caller) => (caller.user.email.startsWith('admin') ? ['admin'] : [])
      app = await driver({ latchkey: h.latchkey, verifier, rolesOf, prefix: '' })
      prefixed = await driver({ latchkey: h.latchkey, verifier, rolesOf, prefix: '/idp' })
    })
    after(async () => {
      await app.close()
      await prefixed.close()
      await h.latchkey.close()
    })

    const post = (path: string, body: unknown, headers = browserHeaders()) =>
      app.fetch(path, { method: 'POST', headers, body: JSON.stringify(body) })

    async function signupThroughApp(email: string): Promise<void> {
      const response = await post('/auth/signup', { email, password: PASSWORD })
      assert.equal(response.status, 201, await response.clone().text())
    }

    async function cookieLogin(email: string) {
      await signupThroughApp(email)
      const response = await post('/auth/login', { email, password: PASSWORD, mode: 'session' })
      assert.equal(response.status, 200)
      const body = (await response.json()) as { csrfToken: string; session: { id: string } }
      return { cookie: sessionCookieOf(response), csrfToken: body.csrfToken, id: body.session.id }
    }

    async function tokenLogin(email: string) {
      await signupThroughApp(email)
      const response = await post(
        '/auth/login',
        { email, password: PASSWORD, mode: 'token' },
        { 'content-type': 'application/json' },
      )
      assert.equal(response.status, 200)
      const body = (await response.json()) as { access_token: string; token_type: string }
      assert.equal(body.token_type, 'Bearer')
      return body.access_token
    }

    const email = (label: string) => `${label}-${Math.random().toString(36).slice(2)}@example.com`

    /** The error's JSON; a 401's challenge; another status's challenge is `challenge`. */
    async function assertRefused(
      response: Response,
      status: number,
      code: string,
      challenge: string | null = null,
    ) {
      assert.equal(response.status, status)
      const body = (await response.json()) as ErrorBody
      assert.equal(body.error, code)
      assert.equal(typeof body.message, 'string')
      assert.match(response.headers.get('content-type') ?? '', /^application\/json/)
      if (status === 401) assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer /)
      else assert.equal(response.headers.get('www-authenticate'), challenge)
    }

    describe('mounted auth routes', () => {
      it('signs up and logs in with a session: cookie, CSRF token, security headers', async () => {
        const session = await cookieLogin(email('mount'))
        assert.match(session.cookie, /^__Host-latchkey-session=/)
        assert.ok(session.csrfToken.length > 10)
        const who = await app.fetch('/auth/session', { headers: { cookie: session.cookie } })
        assert.equal(who.status, 200)
        assert.equal(who.headers.get('x-content-type-options'), 'nosniff')
      })

      it('logs in in token mode and serves the JWKS', async () => {
        const token = await tokenLogin(email('token'))
        assert.equal(token.split('.').length, 3)
        const jwks = await app.fetch('/.well-known/jwks.json')
        assert.equal(jwks.status, 200)
        assert.ok(((await jwks.json()) as { keys: unknown[] }).keys.length > 0)
        assert.equal((await app.fetch('/healthz')).status, 200)
      })

      it('answers its own errors for bodies it refuses', async () => {
        const response = await app.fetch('/auth/signup', {
          method: 'POST',
          headers: browserHeaders({ 'content-type': 'text/plain' }),
          body: 'not json',
        })
        await assertRefused(response, 415, 'unsupported_media_type')
        const bad = await app.fetch('/auth/signup', {
          method: 'POST',
          headers: browserHeaders(),
          body: '{"email":',
        })
        await assertRefused(bad, 400, 'invalid_request')
      })

      it('reads a body from the request stream, and refuses one over the limit', async () => {
        const address = email('body-limit')
        await signupThroughApp(address)
        const login = await post('/auth/login', {
          email: address,
          password: PASSWORD,
          mode: 'token',
        })
        const { refresh_token } = (await login.json()) as { refresh_token: string }
        const refreshed = await app.fetch('/auth/refresh', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ refresh_token }),
        })
        assert.equal(refreshed.status, 200, await refreshed.clone().text())
        const big = await app.fetch('/auth/login', {
          method: 'POST',
          headers: browserHeaders(),
          body: JSON.stringify({ email: address, password: 'x'.repeat(64 * 1024) }),
        })
        await assertRefused(big, 413, 'payload_too_large')
      })

      it('leaves the app its other routes', async () => {
        const response = await app.fetch('/open')
        assert.equal(response.status, 200)
        assert.deepEqual(await response.json(), { open: true })
      })

      it('mounts under a path', async () => {
        const response = await prefixed.fetch('/idp/auth/signup', {
          method: 'POST',
          headers: browserHeaders(),
          body: JSON.stringify({ email: email('prefixed'), password: PASSWORD }),
        })
        assert.equal(response.status, 201)
        assert.equal((await prefixed.fetch('/idp/.well-known/jwks.json')).status, 200)
        assert.notEqual((await prefixed.fetch('/.well-known/jwks.json')).status, 200)
      })
    })

    describe('requireAuth', () => {
      it('admits a cookie session on a safe request', async () => {
        const session = await cookieLogin(email('cookie'))
        const response = await app.fetch('/me', { headers: { cookie: session.cookie } })
        assert.equal(response.status, 200)
        const body = (await response.json()) as Guarded
        assert.equal(body.via, 'cookie')
      })

      it('needs the CSRF proof for a cookie on an unsafe request', async () => {
        const session = await cookieLogin(email('csrf'))
        const bare = await app.fetch('/me', {
          method: 'POST',
          headers: browserHeaders({ cookie: session.cookie }),
          body: '{}',
        })
        await assertRefused(bare, 403, 'csrf_failed')
        const crossSite = await app.fetch('/me', {
          method: 'POST',
          headers: browserHeaders({
            cookie: session.cookie,
            'x-csrf-token': session.csrfToken,
            origin: 'https://evil.example',
            'sec-fetch-site': 'cross-site',
          }),
          body: '{}',
        })
        await assertRefused(crossSite, 403, 'csrf_failed')
        const proven = await app.fetch('/me', {
          method: 'POST',
          headers: browserHeaders({ cookie: session.cookie, 'x-csrf-token': session.csrfToken }),
          body: '{}',
        })
        assert.equal(proven.status, 200)
      })

      it('admits a Bearer token, with no CSRF proof', async () => {
        const token = await tokenLogin(email('bearer'))
        const response = await app.fetch('/me', {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: '{}',
        })
        assert.equal(response.status, 200)
        assert.equal(((await response.json()) as Guarded).via, 'bearer')
      })

      it('answers 401 with a bare challenge when there is no credential', async () => {
        const response = await app.fetch('/me')
        await assertRefused(response, 401, 'unauthorized')
        assert.equal(response.headers.get('www-authenticate'), `Bearer realm="auth.example.com"`)
      })

      it('answers 401 naming why a credential is dead: expired, revoked, malformed', async () => {
        const session = await cookieLogin(email('dead'))
        const token = await tokenLogin(email('dead-token'))
        const garbage = await app.fetch('/me', { headers: { authorization: 'Bearer a b' } })
        await assertRefused(garbage, 401, 'invalid_token')

        const revoke = await app.fetch(`/auth/sessions/${session.id}`, {
          method: 'DELETE',
          headers: browserHeaders({ cookie: session.cookie, 'x-csrf-token': session.csrfToken }),
        })
        assert.equal(revoke.status, 204)
        const revoked = await app.fetch('/me', { headers: { cookie: session.cookie } })
        await assertRefused(revoked, 401, 'session_revoked')
        assert.match(revoked.headers.get('www-authenticate') ?? '', /session_revoked/)

        const logout = await app.fetch('/auth/logout', {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ scope: 'local' }),
        })
        assert.equal(logout.status, 204)
        const deadToken = await app.fetch('/me', { headers: { authorization: `Bearer ${token}` } })
        await assertRefused(deadToken, 401, 'token_revoked')
      })

      it('answers 401 for an expired session and an expired token', async () => {
        const session = await cookieLogin(email('idle'))
        const token = await tokenLogin(email('exp'))
        h.clock.advance(31 * 60_000)
        const idle = await app.fetch('/me', { headers: { cookie: session.cookie } })
        await assertRefused(idle, 401, 'session_expired')
        const expired = await app.fetch('/me', { headers: { authorization: `Bearer ${token}` } })
        await assertRefused(expired, 401, 'token_expired')
      })

      it('restricts the credential with `via`, ignoring the other one', async () => {
        const session = await cookieLogin(email('via'))
        const token = await tokenLogin(email('via-token'))
        const both = { cookie: session.cookie, authorization: `Bearer ${token}` }

        const cookieOnly = await app.fetch('/cookie-only', { headers: both })
        assert.equal(cookieOnly.status, 200)
        assert.equal(((await cookieOnly.json()) as Guarded).via, 'cookie')
        const noCookie = await app.fetch('/cookie-only', {
          headers: { authorization: `Bearer ${token}` },
        })
        await assertRefused(noCookie, 401, 'unauthorized')

        const bearerOnly = await app.fetch('/bearer-only', { headers: both })
        assert.equal(((await bearerOnly.json()) as Guarded).via, 'bearer')
        const noBearer = await app.fetch('/bearer-only', { headers: { cookie: session.cookie } })
        await assertRefused(noBearer, 401, 'unauthorized')
      })

      it('answers 403 when a role is missing', async () => {
        const user = await cookieLogin(email('plain'))
        const admin = await cookieLogin(email('admin'))
        const token = await tokenLogin(email('plain-token'))
        // The first request reads the store; the second is decided from this node's memory.
        for (const round of ['store', 'memory']) {
          // A cookie is no OAuth credential: no challenge.
          const refused = await app.fetch('/admin', { headers: { cookie: user.cookie } })
          await assertRefused(refused, 403, 'insufficient_role')
          const bearer = await app.fetch('/admin', {
            headers: { authorization: `Bearer ${token}` },
          })
          await assertRefused(bearer, 403, 'insufficient_role', scopeChallenge('auth.example.com'))
          const admitted = await app.fetch('/admin', { headers: { cookie: admin.cookie } })
          assert.equal(admitted.status, 200, round)
        }
      })

      it('answers 401 login_not_fresh when the password was typed too long ago', async () => {
        const session = await cookieLogin(email('fresh'))
        const token = await tokenLogin(email('fresh-token'))
        assert.equal(
          (await app.fetch('/fresh', { headers: { cookie: session.cookie } })).status,
          200,
        )
        h.clock.advance(FRESH_MS + 1000)
        // Both credentials are still alive; only the route's own demand refuses them.
        assert.equal((await app.fetch('/me', { headers: { cookie: session.cookie } })).status, 200)
        const stale = await app.fetch('/fresh', { headers: { cookie: session.cookie } })
        await assertRefused(stale, 401, 'login_not_fresh')
        const staleToken = await app.fetch('/fresh', {
          headers: { authorization: `Bearer ${token}` },
        })
        await assertRefused(staleToken, 401, 'login_not_fresh')
      })
    })

    describe('requireToken (verifier only)', () => {
      it('admits a good token and puts its claims on the request', async () => {
        const token = await tokenLogin(email('verify'))
        const response = await app.fetch('/api/claims', {
          headers: { authorization: `Bearer ${token}` },
        })
        assert.equal(response.status, 200)
        const { sub } = (await response.json()) as { sub: string }
        assert.ok(sub.length > 0)
      })

      it('refuses a missing, forged or cookie credential with 401', async () => {
        const token = await tokenLogin(email('forged'))
        await assertRefused(await app.fetch('/api/claims'), 401, 'unauthorized')
        const [header, payload, signature] = token.split('.') as [string, string, string]
        const forged = `${header}.${payload}.${signature.slice(0, -4)}AAAA`
        const bad = await app.fetch('/api/claims', {
          headers: { authorization: `Bearer ${forged}` },
        })
        await assertRefused(bad, 401, 'invalid_token')
        assert.equal(bad.headers.get('www-authenticate')?.startsWith('Bearer realm="api"'), true)
        const session = await cookieLogin(email('cookie-at-api'))
        const cookie = await app.fetch('/api/claims', { headers: { cookie: session.cookie } })
        await assertRefused(cookie, 401, 'unauthorized')
      })

      it('answers 403 when the token lacks a role, with an insufficient_scope challenge', async () => {
        const token = await tokenLogin(email('no-role'))
        const response = await app.fetch('/api/admin', {
          headers: { authorization: `Bearer ${token}` },
        })
        await assertRefused(response, 403, 'insufficient_role', scopeChallenge('api'))
      })
    })
  })
}
