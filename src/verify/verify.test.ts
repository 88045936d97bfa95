/*
 * latchkey/verify: JWKS caching (Cache-Control within bounds), single-flight and
 * rate-limited refetch on an unknown kid, failures, and construction checks.
 */
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, test } from 'node:test'
import { ConfigError } from '../errors.js'
import { signAccessToken } from '../tokens/access-token.js'
import type { SigningKey } from '../tokens/access-token.js'
import { assertRejectsAuth, AUDIENCE, ISSUER, keyringFor, NOW } from '../tokens/fixtures.test.js'
import type { Keyring } from '../tokens/keyring.js'
import { createVerifier } from './index.js'
import { cacheLifetime, DEFAULT_KEY_SET_POLICY } from './key-set.js'

const SECOND = 1000
const JWKS_URL = 'https://auth.example.com/.well-known/jwks.json'
const INPUT = { iss: ISSUER, sub: 'user-1', aud: AUDIENCE, sid: 'login-1', ver: 0 }

/** A verifier over a keyring's JWKS served by an injected, counting, slightly slow fetch. */
function setup(keyring: Keyring, cacheControl = 'public, max-age=3600') {
  const state = { now: NOW, fetches: 0, fail: false }
  const verifier = createVerifier({
    jwksUrl: JWKS_URL,
    issuer: ISSUER,
    audience: AUDIENCE,
    clock: () => state.now,
    fetch: async () => {
      state.fetches++
      await sleep(5) // long enough for concurrent verifications to pile up behind it
      if (state.fail) throw new TypeError('fetch failed')
      return Response.json(keyring.publicJwks(state.now), {
        headers: { 'cache-control': cacheControl },
      })
    },
  })
  const tokenOf = (key: SigningKey) => signAccessToken(key, INPUT, { now: state.now }).token
  return { state, verifier, tokenOf }
}

describe('latchkey/verify', () => {
  test('20 concurrent verifications on a cold verifier fetch the JWKS once', async () => {
    const { keyring, key } = await keyringFor('EdDSA')
    const { state, verifier, tokenOf } = setup(keyring)
    const results = await Promise.all(
      Array.from({ length: 20 }, () => verifier.verify(tokenOf(key))),
    )
    assert.equal(results.length, 20)
    assert.equal(state.fetches, 1)
  })

  test('an unknown kid triggers exactly one refetch for 20 concurrent verifications', async () => {
    const { keyring, key } = await keyringFor('EdDSA')
    const { state, verifier, tokenOf } = setup(keyring)
    await verifier.verify(tokenOf(key))
    state.now += SECOND
    const rotated = await keyring.rotate(state.now)
    state.now = rotated.activatesAt // past the 30 s cooldown, well inside the 1 h max-age
    const newKey = keyring.signingKey(state.now)
    assert.equal(newKey.kid, rotated.kid)
    const tokens = Array.from({ length: 20 }, () => tokenOf(newKey))
    const results = await Promise.all(tokens.map((token) => verifier.verify(token)))
    assert.ok(results.every((claims) => claims.sub === 'user-1'))
    assert.equal(state.fetches, 2)
  })

  test('a second unknown kid within the rate-limit window does not refetch', async () => {
    const { keyring, key } = await keyringFor('EdDSA')
    const { key: stranger } = await keyringFor('EdDSA')
    const { state, verifier, tokenOf } = setup(keyring)
    await verifier.verify(tokenOf(key))
    state.now += 31 * SECOND
    await assertRejectsAuth(verifier.verify(tokenOf(stranger)), 'invalid_token', /"kid"/)
    assert.equal(state.fetches, 2, 'the first unknown kid refetches')
    state.now += 29 * SECOND
    const { key: another } = await keyringFor('ES256')
    await assertRejectsAuth(verifier.verify(tokenOf(another)), 'invalid_token', /"kid"/)
    assert.equal(state.fetches, 2, 'inside 30 s: no refetch')
    state.now += SECOND
    await assertRejectsAuth(verifier.verify(tokenOf(another)), 'invalid_token', /"kid"/)
    assert.equal(state.fetches, 3, 'after 30 s: one refetch')
  })

  test('Cache-Control max-age decides when the JWKS is fetched again', async () => {
    const { keyring, key } = await keyringFor('EdDSA')
    const { state, verifier, tokenOf } = setup(keyring, 'max-age=120')
    const token = tokenOf(key)
    await verifier.verify(token)
    state.now += 120 * SECOND - 1
    await verifier.verify(token)
    assert.equal(state.fetches, 1)
    state.now += 1
    await verifier.verify(token)
    assert.equal(state.fetches, 2)
  })

  test('max-age is kept within 30 s and 1 h; no header means 5 min; Age is subtracted', () => {
    const lifetime = (headers: Record<string, string>) =>
      cacheLifetime(new Headers(headers), DEFAULT_KEY_SET_POLICY)
    assert.equal(lifetime({ 'cache-control': 'public, max-age=600' }), 600)
    assert.equal(lifetime({ 'cache-control': 'max-age=1' }), 30)
    assert.equal(lifetime({ 'cache-control': 'max-age=99999999' }), 3600)
    assert.equal(lifetime({ 'cache-control': 'no-store' }), 30)
    assert.equal(lifetime({ 'cache-control': 'max-age=600, no-cache' }), 30)
    assert.equal(lifetime({ 'cache-control': 'max-age=-5' }), 300)
    assert.equal(lifetime({}), 300)
    assert.equal(lifetime({ 'cache-control': 'max-age=600', age: '100' }), 500)
  })

  test('a JWKS that cannot be fetched gives store_unavailable, retried at most every 30 s', async () => {
    const { keyring, key } = await keyringFor('EdDSA')
    const { state, verifier, tokenOf } = setup(keyring)
    state.fail = true
    const token = tokenOf(key)
    await assertRejectsAuth(verifier.verify(token), 'store_unavailable', /JWKS/)
    state.now += 29 * SECOND
    await assertRejectsAuth(verifier.verify(token), 'store_unavailable')
    assert.equal(state.fetches, 1)
    state.fail = false
    state.now += SECOND
    assert.equal((await verifier.verify(token)).sub, 'user-1')
    assert.equal(state.fetches, 2)
  })

  test('while the JWKS is down, the last good keys serve for up to an hour past max-age', async () => {
    const { keyring, key } = await keyringFor('EdDSA')
    const { state, verifier, tokenOf } = setup(keyring, 'max-age=60')
    await verifier.verify(tokenOf(key))
    state.fail = true
    state.now += 61 * SECOND
    assert.equal((await verifier.verify(tokenOf(key))).sub, 'user-1')
    assert.equal(state.fetches, 2)
    state.now += 3600 * SECOND
    await assertRejectsAuth(verifier.verify(tokenOf(key)), 'store_unavailable')
  })

  for (const [name, response] of [
    ['an HTTP 500', () => new Response('oops', { status: 500 })],
    ['a body that is not JSON', () => new Response('<html>')],
    [
      'a body over 256 KiB',
      () => new Response(JSON.stringify({ keys: [], pad: 'x'.repeat(300_000) })),
    ],
    ['a JSON document without keys', () => Response.json({ jwks: [] })],
  ] as const) {
    test(`${name} from the JWKS URL gives store_unavailable`, async () => {
      const { key } = await keyringFor('EdDSA')
      const verifier = createVerifier({
        jwksUrl: JWKS_URL,
        issuer: ISSUER,
        audience: AUDIENCE,
        clock: () => NOW,
        fetch: () => Promise.resolve(response()),
      })
      const token = signAccessToken(key, INPUT, { now: NOW }).token
      await assertRejectsAuth(verifier.verify(token), 'store_unavailable')
    })
  }

  test('an expired token is token_expired; a garbage token is invalid_token', async () => {
    const { keyring, key } = await keyringFor('ES256')
    const { state, verifier, tokenOf } = setup(keyring)
    const token = tokenOf(key)
    state.now += 3600 * SECOND
    await assertRejectsAuth(verifier.verify(token), 'token_expired')
    await assertRejectsAuth(verifier.verify('not.a.token'), 'invalid_token')
  })

  const badOptions: [string, Record<string, unknown>][] = [
    ['plain http to a public host', { jwksUrl: 'http://auth.example.com/jwks.json' }],
    ['another scheme', { jwksUrl: 'file:///etc/passwd' }],
    ['credentials in the URL', { jwksUrl: 'https://user:pass@auth.example.com/jwks.json' }],
    ['a URL that does not parse', { jwksUrl: 'not a url' }],
    ['a skew of minutes', { skewSeconds: 600 }],
    ['a negative skew', { skewSeconds: -1 }],
    ['no issuer', { issuer: '' }],
    ['no audience', { audience: '' }],
    ['a negative cache bound', { cache: { minCacheSeconds: -1 } }],
    [
      'a minimum cache time above the maximum',
      { cache: { minCacheSeconds: 10, maxCacheSeconds: 5 } },
    ],
  ]
  for (const [name, overrides] of badOptions) {
    test(`${name} is refused at construction`, () => {
      const options = { jwksUrl: JWKS_URL, issuer: ISSUER, audience: AUDIENCE, ...overrides }
      assert.throws(() => createVerifier(options), ConfigError)
    })
  }

  test('plain http is allowed on loopback addresses', () => {
    for (const jwksUrl of [
      'http://localhost:3000/j',
      'http://127.0.0.1/j',
      'http://[::1]:8080/j',
    ]) {
      assert.doesNotThrow(() => createVerifier({ jwksUrl, issuer: ISSUER, audience: AUDIENCE }))
    }
  })
})
