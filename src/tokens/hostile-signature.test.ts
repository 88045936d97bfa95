/*
 * SECURITY.md "Access tokens": ECDSA r = 0 / s = 0 ("psychic signatures"), DER instead of
 * raw R‖S, truncated signatures; and the signature is checked before any claim.
 */
import assert from 'node:assert/strict'
import { sign } from 'node:crypto'
import { describe, test } from 'node:test'
import {
  assertAuthError,
  claims,
  forgeSegments,
  header,
  keyringFor,
  NOW_SECONDS,
  segment,
  signedWith,
  verifierFor,
} from './fixtures.test.js'
import { signBytes } from './signature.js'

const P256_ORDER = Buffer.from(
  'ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551',
  'hex',
)

describe('ES256 signatures', async () => {
  const { keyring, key } = await keyringFor('ES256')
  const verify = verifierFor(keyring)
  const h = segment(header(key))
  const p = segment(claims())
  const input = Buffer.from(`${h}.${p}`, 'latin1')
  const raw = signBytes('ES256', key.privateKey, input)
  const r = raw.subarray(0, 32)
  const s = raw.subarray(32)
  const zero = Buffer.alloc(32)
  const withSignature = (signature: Uint8Array) => forgeSegments(h, p, () => signature)

  test('a valid raw R‖S signature verifies (control)', () => {
    assert.equal((verify(withSignature(raw)) as { sub: string }).sub, 'user-1')
  })

  const forged: [string, Buffer][] = [
    ['r = 0, s = 0 (64 zero bytes)', Buffer.alloc(64)],
    ['r = 0 with a valid s', Buffer.concat([zero, s])],
    ['s = 0 with a valid r', Buffer.concat([r, zero])],
    ['r = n (the group order)', Buffer.concat([P256_ORDER, s])],
    ['s = n (the group order)', Buffer.concat([r, P256_ORDER])],
    ['r, s = 2^256 - 1', Buffer.alloc(64, 0xff)],
    ['the DER encoding of a valid signature', sign('sha256', input, key.privateKey)],
    ['a signature truncated to 63 bytes', raw.subarray(0, 63)],
    ['a signature truncated to 32 bytes (r only)', raw.subarray(0, 32)],
    ['a signature with a byte appended', Buffer.concat([raw, Buffer.from([0])])],
    ['a signature with r and s swapped', Buffer.concat([s, r])],
  ]
  for (const [name, signature] of forged) {
    test(`${name} is rejected`, () => {
      assertAuthError(() => verify(withSignature(signature)), 'invalid_token', /signature/)
    })
  }
})

describe('EdDSA and RS256 signatures', async () => {
  for (const alg of ['EdDSA', 'RS256'] as const) {
    const { keyring, key } = await keyringFor(alg)
    const verify = verifierFor(keyring)
    const h = segment(header(key))
    const p = segment(claims())
    const raw = signBytes(alg, key.privateKey, Buffer.from(`${h}.${p}`, 'latin1'))
    const forged: [string, Buffer][] = [
      ['an all-zero signature', Buffer.alloc(raw.length)],
      ['a truncated signature', raw.subarray(0, raw.length - 1)],
      ['a signature with a leading zero byte', Buffer.concat([Buffer.from([0]), raw])],
      ['a signature with one bit flipped', Buffer.from(raw.map((b, i) => (i === 5 ? b ^ 1 : b)))],
    ]
    for (const [name, signature] of forged) {
      test(`${alg}: ${name} is rejected`, () => {
        const token = forgeSegments(h, p, () => signature)
        assertAuthError(() => verify(token), 'invalid_token', /signature/)
      })
    }
  }
})

describe('the signature is checked before any claim', async () => {
  const { keyring, key } = await keyringFor('EdDSA')
  const { key: attacker } = await keyringFor('EdDSA')
  const verify = verifierFor(keyring)
  const forgedAs = (overrides: Record<string, unknown>, head = header(key)) =>
    signedWith({ ...attacker, kid: key.kid }, head, claims(overrides))

  test('an expired token with a bad signature says invalid_token, not token_expired', () => {
    const token = forgedAs({ exp: NOW_SECONDS - 3600, iat: NOW_SECONDS - 4000 })
    assertAuthError(() => verify(token), 'invalid_token', /signature/)
  })

  test('the same expired token correctly signed says token_expired (control)', () => {
    const token = signedWith(key, header(key), claims({ exp: NOW_SECONDS - 3600 }))
    assertAuthError(() => verify(token), 'token_expired', /"exp"/)
  })

  for (const [name, overrides] of [
    ['a wrong issuer', { iss: 'https://evil.example' }],
    ['a wrong audience', { aud: 'https://other.example' }],
    ['a string exp', { exp: 'tomorrow' }],
    ['a future nbf', { nbf: NOW_SECONDS + 3600 }],
  ] as const) {
    test(`${name} with a bad signature reports the signature`, () => {
      assertAuthError(() => verify(forgedAs(overrides)), 'invalid_token', /signature/)
    })
  }

  test('a wrong typ with a bad signature reports the signature', () => {
    const token = forgedAs({}, header(key, { typ: 'JWT' }))
    assertAuthError(() => verify(token), 'invalid_token', /signature/)
  })

  test('error messages never contain the token or its segments', () => {
    const token = forgedAs({ exp: NOW_SECONDS - 3600 })
    try {
      verify(token)
      assert.fail('expected a rejection')
    } catch (error) {
      const message = String((error as Error).message)
      for (const part of [token, ...token.split('.')]) assert.ok(!message.includes(part))
    }
  })
})
