import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { memoryStore } from '../../src/stores/memory.js'
import { bearer, harness, ISSUER, signup, tokenLogin } from '../harness.js'
import type { Harness } from '../harness.js'

const PRIVATE_FIELDS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth']

async function jwksOf(h: Harness) {
  const response = await h.send('/.well-known/jwks.json')
  assert.equal(response.status, 200)
  return {
    response,
    jwks: (await response.json()) as { keys: Record<string, unknown>[] },
  }
}

async function probe(h: Harness, token: string): Promise<[number, string | undefined]> {
  const response = await h.send('/auth/session', { headers: bearer(token) })
  return [response.status, ((await response.json()) as { error?: string }).error]
}

const kidOf = (token: string) =>
  (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid

async function user(h: Harness): Promise<string> {
  const email = `k-${Math.random()}@example.com`
  assert.equal((await signup(h, email)).status, 201)
  return email
}

describe('JWKS and discovery', () => {
  for (const alg of ['EdDSA', 'ES256', 'RS256'] as const) {
    it(`${alg}: the JWKS has kid, alg and use, no private field, and a cache max-age`, async () => {
      const h = harness({ tokens: { alg } })
      const token = await tokenLogin(h, await user(h))
      const { response, jwks } = await jwksOf(h)
      assert.match(response.headers.get('cache-control') ?? '', /^public, max-age=\d+$/)
      assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8')
      assert.equal(jwks.keys.length, 1)
      const [key] = jwks.keys
      assert.equal(key?.['kid'], kidOf(token.accessToken))
      assert.equal(key?.['alg'], alg)
      assert.equal(key?.['use'], 'sig')
      for (const field of PRIVATE_FIELDS) assert.equal(key?.[field], undefined, field)
    })
  }

  it('the JWKS of a fresh deployment already holds a key', async () => {
    const { jwks } = await jwksOf(harness())
    assert.equal(jwks.keys.length, 1)
  })

  it('openid-configuration names the issuer, the JWKS and the endpoints', async () => {
    const h = harness({ tokens: { alg: 'ES256' } })
    const response = await h.send('/.well-known/openid-configuration')
    assert.equal(response.status, 200)
    assert.match(response.headers.get('cache-control') ?? '', /max-age=/)
    const body = (await response.json()) as Record<string, unknown>
    assert.equal(body['issuer'], ISSUER)
    assert.equal(body['jwks_uri'], `${ISSUER}/.well-known/jwks.json`)
    assert.equal(body['login_endpoint'], `${ISSUER}/auth/login`)
    assert.equal(body['session_endpoint'], `${ISSUER}/auth/session`)
    assert.deepEqual(body['access_token_signing_alg_values_supported'], ['ES256'])
  })
})

describe('key rotation through HTTP', () => {
  it('old tokens verify until they expire; after the key is removed, invalid_token', async () => {
    const h = harness()
    const email = await user(h)
    const before = await tokenLogin(h, email)
    const { keyring } = h.latchkey.tokens
    const next = await keyring.rotate(h.clock())
    assert.equal(next.status, 'pending')
    // Published before it signs: both keys in the JWKS, the old one still signing.
    assert.equal((await jwksOf(h)).jwks.keys.length, 2)
    const stillOld = await tokenLogin(h, email)
    assert.equal(kidOf(stillOld.accessToken), kidOf(before.accessToken))

    h.clock.advance(301_000)
    const after = await tokenLogin(h, email)
    assert.equal(kidOf(after.accessToken), next.kid)
    assert.deepEqual(await probe(h, before.accessToken), [200, undefined])
    assert.deepEqual(await probe(h, after.accessToken), [200, undefined])

    // Past the old key's retention (its tokens' TTL plus skew after retirement).
    h.clock.advance(630_000)
    assert.deepEqual(await keyring.removeExpired(h.clock()), [kidOf(before.accessToken)])
    assert.deepEqual(await probe(h, before.accessToken), [401, 'invalid_token'])
    const { jwks } = await jwksOf(h)
    assert.deepEqual(
      jwks.keys.map((key) => key['kid']),
      [next.kid],
    )
    const latest = await tokenLogin(h, email)
    assert.deepEqual(await probe(h, latest.accessToken), [200, undefined])
  })

  it('a node that has not seen a rotation reloads its keys on an unknown kid', async () => {
    const store = memoryStore()
    const a = harness({ store })
    const b = harness({ store, clock: a.clock })
    const email = await user(a)
    await tokenLogin(a, email)
    await b.latchkey.tokens.keyring.rotate(a.clock())
    a.clock.advance(301_000)
    const fromB = await tokenLogin(b, email)
    assert.deepEqual(await probe(a, fromB.accessToken), [200, undefined])
  })

  it('maintain rotates once the interval has passed', async () => {
    const h = harness({ tokens: { rotationIntervalMs: 3_600_000 } })
    const { keyring } = h.latchkey.tokens
    await keyring.maintain(h.clock(), 3_600_000)
    assert.equal(keyring.list(h.clock()).length, 1)
    h.clock.advance(3_600_000)
    await keyring.maintain(h.clock(), 3_600_000)
    assert.equal(keyring.list(h.clock()).length, 2)
  })
})
