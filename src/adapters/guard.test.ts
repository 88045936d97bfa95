import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AuthError, ConfigError } from '../errors.js'
import type { AccessTokenClaims } from '../tokens/claims.js'
import type { Caller } from '../http/app.js'
import { callerGuard, checkedPrefix, refusal, refusalStyleOf, settle, tokenGuard } from './guard.js'
import type { CallerSource } from './guard.js'

const claims: AccessTokenClaims = {
  iss: 'https://auth.example.com',
  sub: 'user-1',
  aud: 'api',
  exp: 2,
  iat: 1,
  jti: 'jti',
  sid: 'sid',
  ver: 0,
  roles: ['editor'],
  scope: 'notes:read  notes:write',
}

const bearer = (token: string) => ({
  method: 'GET',
  headers: new Headers({ authorization: `Bearer ${token}` }),
})

const source: CallerSource = {
  check: () => Promise.reject(new Error('not called')),
  config: { issuer: 'https://auth.example.com', clock: () => 0 },
}

describe('guard options', () => {
  it('refuses wrong options when the middleware is built', () => {
    assert.throws(() => callerGuard(source, { via: 'basic' as 'cookie' }), ConfigError)
    assert.throws(() => callerGuard(source, { freshWithinMs: 0 }), ConfigError)
    assert.throws(() => callerGuard(source, { freshWithinMs: Number.NaN }), ConfigError)
    assert.throws(() => callerGuard(source, { roles: [''] }), ConfigError)
    assert.throws(
      () => tokenGuard({ verify: () => Promise.resolve(claims) }, { roles: 'admin' as never }),
      ConfigError,
    )
    assert.throws(() => checkedPrefix('/idp/'), ConfigError)
    assert.equal(checkedPrefix('/'), '')
  })
})

describe('tokenGuard roles', () => {
  const verifier = { verify: () => Promise.resolve(claims) }

  it('reads roles from the roles claim and the words of the scope claim', async () => {
    const guard = tokenGuard(verifier, { roles: ['editor', 'notes:write'] })
    assert.equal((await guard(bearer('a.b.c'))).sub, 'user-1')
  })

  it('names the missing role in a 403', async () => {
    const guard = tokenGuard(verifier, { roles: ['admin'] })
    await assert.rejects(guard(bearer('a.b.c')), (error: unknown) => {
      assert.ok(error instanceof AuthError)
      assert.equal(error.code, 'insufficient_role')
      assert.equal(error.status, 403)
      assert.match(error.message, /"admin"/)
      assert.equal(error.scope, 'admin')
      return true
    })
  })
})

describe('a refusal of requireAuth', () => {
  const source = (issuer: string, secureTransport: boolean): CallerSource => ({
    check: () => Promise.reject(new AuthError('unauthorized', 'no')),
    config: { issuer, clock: () => 0, secureTransport },
  })

  it('carries HSTS behind an https issuer, as the handler answers', () => {
    const style = refusalStyleOf(source('https://auth.example.com', true))
    assert.deepEqual(style, { realm: 'auth.example.com', hsts: true })
    const headers = refusal(new AuthError('unauthorized', 'no'), style).headers
    assert.match(headers.get('strict-transport-security') ?? '', /^max-age=\d+/)
    assert.equal(headers.get('www-authenticate'), 'Bearer realm="auth.example.com"')
    assert.equal(headers.get('x-content-type-options'), 'nosniff')
  })

  it('carries none behind plain http', () => {
    const style = refusalStyleOf(source('http://localhost:3000', false))
    const headers = refusal(new AuthError('unauthorized', 'no'), style).headers
    assert.equal(headers.get('strict-transport-security'), null)
  })
})

describe('the insufficient_scope challenge', () => {
  it('names the roles when they are scope tokens, and only then', () => {
    const challenge = (scope: string) =>
      refusal(new AuthError('insufficient_role', 'no', { scope }), {
        realm: 'api',
        hsts: false,
      }).headers.get('www-authenticate')
    assert.equal(
      challenge('admin notes:write'),
      'Bearer realm="api", error="insufficient_scope", scope="admin notes:write"',
    )
    for (const odd of ['a"b', 'a\\b', 'a  b', ' a', 'é']) {
      assert.equal(challenge(odd), 'Bearer realm="api", error="insufficient_scope"', odd)
    }
  })
})

describe('callerGuard from memory', () => {
  const user = { id: 'user-1', email: 'a@example.com' } as Caller['user']
  const login = { id: 'login-1', createdAt: 0 } as Caller['login']
  const known: Caller = { user, login, via: 'cookie' }
  const cookie = { method: 'GET', headers: new Headers({ cookie: 'x=y' }) }
  /** A source that knows the caller from memory, and counts the full checks. */
  const remembering = () => {
    const calls = { checks: 0 }
    const from: CallerSource = {
      check: () => {
        calls.checks++
        return Promise.resolve(known)
      },
      peek: () => known,
      config: { issuer: 'https://auth.example.com', clock: () => 10_000 },
    }
    return { from, calls }
  }

  it('decides synchronously, with no full check, and settle admits in the same tick', () => {
    const { from, calls } = remembering()
    let admitted: Caller | undefined
    settle(
      () => callerGuard(from)(cookie),
      (caller) => (admitted = caller),
      (error) => assert.fail(String(error)),
    )
    assert.equal(admitted, known)
    assert.equal(calls.checks, 0)
  })

  it('refuses synchronously too: a missing role, a login that is not fresh', () => {
    const { from } = remembering()
    const refusals: unknown[] = []
    const run = (guard: ReturnType<typeof callerGuard>) =>
      settle(
        () => guard(cookie),
        () => assert.fail('admitted'),
        (error) => refusals.push(error),
      )
    run(callerGuard(from, { roles: ['admin'] }, () => ['editor']))
    run(callerGuard(from, { freshWithinMs: 1000 }))
    assert.deepEqual(
      refusals.map((error) => (error as AuthError).code),
      ['insufficient_role', 'login_not_fresh'],
    )
  })

  it('waits for roles that are looked up, and for a full check when memory has nothing', async () => {
    const { from, calls } = remembering()
    const lookedUp = callerGuard(from, { roles: ['admin'] }, () => Promise.resolve(['admin']))
    const pending = lookedUp(cookie)
    assert.ok(pending instanceof Promise)
    assert.equal(await pending, known)
    const forgetful: CallerSource = { ...from, peek: () => undefined }
    assert.equal(await callerGuard(forgetful)(cookie), known)
    assert.equal(calls.checks, 1)
  })

  it('gives peek only the credential a `via` route accepts', () => {
    const seen: (string | null)[] = []
    const from: CallerSource = {
      ...remembering().from,
      peek: (request) => {
        seen.push(request.headers.get('authorization'), request.headers.get('cookie'))
        return undefined
      },
    }
    const both = {
      method: 'GET',
      headers: new Headers({ cookie: 'x=y', authorization: 'Bearer a.b.c' }),
    }
    void callerGuard(from, { via: 'cookie' })(both)
    void callerGuard(from, { via: 'bearer' })(both)
    assert.deepEqual(seen, [null, 'x=y', 'Bearer a.b.c', null])
  })
})
