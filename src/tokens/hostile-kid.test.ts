/*
 * SECURITY.md "Access tokens": header-supplied keys (jwk, jku, x5u, x5c) are ignored and
 * never fetched; `kid` is only a lookup key, whatever text it carries.
 */
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { createVerifier } from '../verify/index.js'
import {
  assertAuthError,
  assertRejectsAuth,
  AUDIENCE,
  claims,
  header,
  ISSUER,
  keyringFor,
  NOW,
  signedWith,
  verifierFor,
} from './fixtures.test.js'

describe('kid is only a lookup key', async () => {
  const { keyring, key } = await keyringFor('EdDSA')
  const verify = verifierFor(keyring)
  const hostileKids = [
    '../../etc/passwd',
    '/dev/null',
    "x' OR '1'='1",
    '1; DROP TABLE signing_keys; --',
    '$(curl http://127.0.0.1:1/pwn)',
    '`id`',
    '| cat /etc/shadow',
    '__proto__',
    'constructor',
    'toString',
    'hasOwnProperty',
    '',
    `${key.kid} `,
    key.kid.toUpperCase(),
    'x'.repeat(4000),
  ]
  for (const kid of hostileKids) {
    test(`kid ${JSON.stringify(kid.slice(0, 40))} is an unknown key`, () => {
      const token = signedWith(key, header(key, { kid }), claims())
      assertAuthError(() => verify(token), 'invalid_token', /"kid"/)
    })
  }

  test('an unknown random kid is rejected', () => {
    const token = signedWith(key, header(key, { kid: 'Zm9vYmFyYmF6cXV4cXV1eA' }), claims())
    assertAuthError(() => verify(token), 'invalid_token', /No signing key has this "kid"/)
  })

  for (const kid of [undefined, null, 7, ['a'], { $ne: null }]) {
    test(`kid ${JSON.stringify(kid) ?? 'missing'} (not a string) is rejected`, () => {
      const token = signedWith(key, header(key, { kid }), claims())
      assertAuthError(
        () => verify(token),
        'invalid_token',
        /"kid" header is missing or not a string/,
      )
    })
  }
})

describe('header-supplied keys are ignored and never fetched', async () => {
  const { keyring, key } = await keyringFor('EdDSA')
  const { keyring: attackerRing, key: attacker } = await keyringFor('EdDSA')
  const attackerJwk = attackerRing.publicJwks(NOW).keys[0]!
  const jwksUrl = 'https://auth.example.com/.well-known/jwks.json'
  const fetched: string[] = []
  let trapHits = 0
  let trapUrl = ''
  // A trap the attacker's jku / x5u point at: any request to it fails the tests below.
  const trap = createServer((_request, response) => {
    trapHits++
    response.setHeader('content-type', 'application/json')
    response.end(JSON.stringify({ keys: [attackerJwk] }))
  })
  const realFetch = globalThis.fetch
  before(async () => {
    await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve))
    trapUrl = `http://127.0.0.1:${(trap.address() as AddressInfo).port}/jwks.json`
    // Any fetch by anyone (even the global one) is recorded.
    globalThis.fetch = (input) => {
      fetched.push(`global:${requestUrl(input)}`)
      return realFetch(input)
    }
  })
  after(async () => {
    globalThis.fetch = realFetch
    await new Promise<void>((resolve) => trap.close(() => resolve()))
  })
  const remote = createVerifier({
    jwksUrl,
    issuer: ISSUER,
    audience: AUDIENCE,
    clock: () => NOW,
    fetch: (input) => {
      fetched.push(requestUrl(input))
      return Promise.resolve(Response.json(keyring.publicJwks(NOW)))
    },
  })
  const headerKeys = (): Record<string, Record<string, unknown>> => ({
    jwk: { jwk: attackerJwk },
    jku: { jku: trapUrl },
    x5u: { x5u: trapUrl },
    x5c: { x5c: [Buffer.from('not a certificate').toString('base64')] },
    'jwk + jku + x5u + x5c': { jwk: attackerJwk, jku: trapUrl, x5u: trapUrl, x5c: ['AAAA'] },
  })

  for (const name of ['jwk', 'jku', 'x5u', 'x5c', 'jwk + jku + x5u + x5c']) {
    test(`${name}: attacker-signed token with the attacker's kid is rejected, nothing fetched`, async () => {
      const extra = headerKeys()[name]!
      const token = signedWith(attacker, header(attacker, extra), claims())
      assertAuthError(() => verifierFor(keyring)(token), 'invalid_token', /"kid"/)
      await assertRejectsAuth(remote.verify(token), 'invalid_token', /"kid"/)
      assertOnlyJwksFetched()
    })

    test(`${name}: attacker-signed token with our kid fails the signature, nothing fetched`, async () => {
      const extra = headerKeys()[name]!
      const token = signedWith(attacker, header(key, extra), claims())
      assertAuthError(() => verifierFor(keyring)(token), 'invalid_token', /signature/)
      await assertRejectsAuth(remote.verify(token), 'invalid_token', /signature/)
      assertOnlyJwksFetched()
    })

    test(`${name}: our own token carrying it still verifies with the keyring key only`, async () => {
      const extra = headerKeys()[name]!
      const token = signedWith(key, header(key, extra), claims())
      assert.equal((await remote.verify(token)).sub, 'user-1')
      assertOnlyJwksFetched()
    })
  }

  function assertOnlyJwksFetched(): void {
    assert.equal(trapHits, 0, 'the URL in the token header was requested')
    assert.deepEqual(fetched, [jwksUrl], 'only the configured JWKS, once')
  }
})

function requestUrl(input: string | URL | Request): string {
  if (typeof input === 'string') return input
  return input instanceof URL ? input.href : input.url
}
