import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AuthError, ConfigError } from '../errors.js'
import type { AccessTokenClaims } from '../tokens/claims.js'
import { callerGuard, checkedPrefix, tokenGuard } from './guard.js'
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
      return true
    })
  })
})
