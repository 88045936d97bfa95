/*
 * SECURITY.md "Access tokens": exp, nbf, iat, iss, aud, typ; non-numeric dates refused;
 * a skew of seconds; token kinds cannot stand in for each other. All tokens are validly
 * signed, so only the claim under test can fail. NOW is frozen; skew is 30 s.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  assertAuthError,
  AUDIENCE,
  claims,
  forgeSegments,
  header,
  ISSUER,
  keyringFor,
  NOW,
  NOW_SECONDS,
  segment,
  signedWith,
  verifierFor,
} from './fixtures.test.js'
import { signBytes } from './signature.js'

const SKEW_MS = 30_000

describe('claims', async () => {
  const { keyring, key } = await keyringFor('EdDSA')
  const verify = verifierFor(keyring)
  const token = (overrides: Record<string, unknown>, head: Record<string, unknown> = {}) =>
    signedWith(key, header(key, head), claims(overrides))
  const accepts = (t: string, now = NOW) =>
    assert.equal((verify(t, now) as { sub: string }).sub, 'user-1')

  test('a token with every claim right verifies and returns its claims', () => {
    const result = verify(token({ scope: 'read write', roles: ['admin'] }))
    assert.deepEqual(result, { ...claims(), scope: 'read write', roles: ['admin'] })
  })

  describe('exp', () => {
    const exp = NOW_SECONDS + 600
    const t = token({ exp })
    test('accepted 1 ms before exp + skew', () => accepts(t, exp * 1000 + SKEW_MS - 1))
    test('dead at exactly exp + skew (token_expired)', () => {
      assertAuthError(() => verify(t, exp * 1000 + SKEW_MS), 'token_expired', /"exp"/)
    })
    test('with no skew, dead at exactly exp', () => {
      const strict = verifierFor(keyring, { skewSeconds: 0 })
      assert.doesNotThrow(() => strict(t, exp * 1000 - 1))
      assertAuthError(() => strict(t, exp * 1000), 'token_expired')
    })
    test('long past exp is token_expired', () => {
      assertAuthError(() => verify(token({ exp: NOW_SECONDS - 86400 })), 'token_expired')
    })
    for (const [name, value] of Object.entries(nonNumbers(exp))) {
      test(`exp as ${name} is rejected`, () => {
        assertAuthError(
          () => verify(token({ exp: value })),
          'invalid_token',
          /"exp" claim is not a numeric date/,
        )
      })
    }
    test('exp of 1e400 (Infinity once parsed) is rejected', () => {
      const text = JSON.stringify(claims()).replace(/"exp":\d+/, '"exp":1e400')
      const raw = forgeSegments(segment(header(key)), segment(Buffer.from(text)), (input) =>
        signBytes(key.alg, key.privateKey, input),
      )
      assertAuthError(() => verify(raw), 'invalid_token', /"exp" claim is not a numeric date/)
    })
    test('a missing exp is rejected', () => {
      assertAuthError(
        () => verify(token({ exp: undefined })),
        'invalid_token',
        /"exp" claim is missing/,
      )
    })
  })

  describe('nbf', () => {
    const nbf = NOW_SECONDS + 60
    const t = token({ nbf })
    test('accepted from nbf - skew', () => accepts(t, nbf * 1000 - SKEW_MS))
    test('rejected 1 ms before nbf - skew', () => {
      assertAuthError(() => verify(t, nbf * 1000 - SKEW_MS - 1), 'invalid_token', /"nbf"/)
    })
    test('a past nbf is fine', () => accepts(token({ nbf: NOW_SECONDS - 60 })))
    for (const [name, value] of Object.entries(nonNumbers(nbf))) {
      test(`nbf as ${name} is rejected`, () => {
        assertAuthError(
          () => verify(token({ nbf: value })),
          'invalid_token',
          /"nbf" claim is not a numeric date/,
        )
      })
    }
  })

  describe('iat', () => {
    const iat = NOW_SECONDS + 20
    const t = token({ iat })
    test('accepted when iat is in the future by no more than the skew', () => {
      accepts(t, iat * 1000 - SKEW_MS)
    })
    test('rejected when iat is more than the skew in the future', () => {
      assertAuthError(() => verify(t, iat * 1000 - SKEW_MS - 1), 'invalid_token', /"iat"/)
    })
    test('a past iat is fine', () => accepts(token({ iat: NOW_SECONDS - 300 })))
    for (const [name, value] of Object.entries(nonNumbers(iat))) {
      test(`iat as ${name} is rejected`, () => {
        assertAuthError(
          () => verify(token({ iat: value })),
          'invalid_token',
          /"iat" claim is not a numeric date/,
        )
      })
    }
    test('a missing iat is rejected', () => {
      assertAuthError(
        () => verify(token({ iat: undefined })),
        'invalid_token',
        /"iat" claim is missing/,
      )
    })
  })

  describe('iss', () => {
    for (const iss of [
      `${ISSUER}/`,
      ISSUER.toUpperCase(),
      'https://evil.example',
      '',
      [ISSUER],
      undefined,
    ]) {
      test(`iss ${JSON.stringify(iss) ?? 'missing'} is rejected`, () => {
        assertAuthError(() => verify(token({ iss })), 'invalid_token', /"iss"/)
      })
    }
  })

  describe('aud', () => {
    test('a string naming us is accepted', () => accepts(token({ aud: AUDIENCE })))
    test('an array containing us is accepted', () => {
      accepts(token({ aud: ['https://other.example', AUDIENCE] }))
    })
    const rejected: [string, unknown][] = [
      ['a string naming someone else', 'https://other.example'],
      ['our audience with a trailing slash', `${AUDIENCE}/`],
      ['an array without us', ['https://other.example']],
      ['an empty array', []],
      ['an array with a non-string', [AUDIENCE, 7]],
      ['a nested array', [[AUDIENCE]]],
      ['a number', 1],
      ['missing', undefined],
    ]
    for (const [name, aud] of rejected) {
      test(`aud as ${name} is rejected`, () => {
        assertAuthError(() => verify(token({ aud })), 'invalid_token', /"aud"/)
      })
    }
  })

  describe('typ and token kinds', () => {
    for (const typ of ['at+jwt', 'AT+JWT', 'application/at+jwt', 'Application/AT+JWT']) {
      test(`typ "${typ}" is accepted`, () => accepts(token({}, { typ })))
    }
    for (const typ of ['JWT', 'jwt', 'rt+jwt', 'at+jwt ', 'application/jwt', 'id_token+jwt', 7]) {
      test(`typ ${JSON.stringify(typ)} is not an access token`, () => {
        assertAuthError(() => verify(token({}, { typ })), 'invalid_token', /"typ"/)
      })
    }
    test('a missing typ is rejected', () => {
      assertAuthError(() => verify(token({}, { typ: undefined })), 'invalid_token', /"typ"/)
    })
    test('a refresh-token JWT (typ rt+jwt) with otherwise perfect claims is refused', () => {
      const refresh = token({ token_use: 'refresh' }, { typ: 'rt+jwt' })
      assertAuthError(() => verify(refresh), 'invalid_token', /not an access token/)
    })
  })

  describe('subject, session, id and version', () => {
    for (const name of ['sub', 'jti', 'sid']) {
      for (const value of [undefined, '', 7, null, ['x']]) {
        test(`${name} ${JSON.stringify(value) ?? 'missing'} is rejected`, () => {
          assertAuthError(
            () => verify(token({ [name]: value })),
            'invalid_token',
            new RegExp(`"${name}"`),
          )
        })
      }
    }
    for (const ver of [undefined, '3', 3.5, -1, null, Number.MAX_SAFE_INTEGER + 2]) {
      test(`ver ${JSON.stringify(ver) ?? 'missing'} is rejected`, () => {
        assertAuthError(() => verify(token({ ver })), 'invalid_token', /"ver"/)
      })
    }
    test('scope that is not a string is rejected', () => {
      assertAuthError(() => verify(token({ scope: ['read'] })), 'invalid_token', /"scope"/)
    })
    test('roles that are not strings are rejected', () => {
      assertAuthError(() => verify(token({ roles: 'admin' })), 'invalid_token', /"roles"/)
      assertAuthError(() => verify(token({ roles: [1] })), 'invalid_token', /"roles"/)
    })
  })
})

/** Every non-numeric stand-in for a NumericDate. */
function nonNumbers(date: number): Record<string, unknown> {
  return {
    'a numeric string': String(date),
    'an ISO string': new Date(date * 1000).toISOString(),
    null: null,
    'a boolean': true,
    'an array': [date],
    'an object': { $gt: 0 },
  }
}
