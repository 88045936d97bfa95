/*
 * Interop: tokens Latchkey signs verify with jose (createRemoteJWKSet + jwtVerify) and
 * jsonwebtoken against the JWKS served over real HTTP; another issuer's keys do not.
 *
 * jsonwebtoken 9 has no EdDSA: its algorithm list (node_modules/jsonwebtoken/verify.js,
 * and jwa, which it signs and verifies through) stops at HS/RS/PS/ES, so it verifies
 * ES256 and RS256 and refuses EdDSA ("Unknown key type "ed25519"", or "invalid
 * algorithm" without an allowlist). The EdDSA test pins that refusal.
 */
import assert from 'node:assert/strict'
import { createPublicKey } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import jwt from 'jsonwebtoken'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { createVerifier } from '../verify/index.js'
import { signAccessToken } from './access-token.js'
import type { SigningKey } from './access-token.js'
import type { PublicAlg } from './algorithms.js'
import {
  assertAuthError,
  assertRejectsAuth,
  AUDIENCE,
  header,
  ISSUER,
  keyringFor,
  NOW,
  NOW_SECONDS,
  signedWith,
  claims,
  verifierFor,
} from './fixtures.test.js'
import { memoryKeyStore } from './key-store.js'
import { Keyring } from './keyring.js'

const ALGS: PublicAlg[] = ['EdDSA', 'ES256', 'RS256']
const INPUT = {
  iss: ISSUER,
  sub: 'user-1',
  aud: AUDIENCE,
  sid: 'login-1',
  ver: 2,
  roles: ['admin'],
}

describe('interop over a served JWKS', async () => {
  const rings = new Map<PublicAlg, { keyring: Keyring; key: SigningKey }>()
  for (const alg of ALGS) rings.set(alg, await keyringFor(alg))
  let requests = 0
  const server = createServer((_request, response) => {
    requests++
    const keys = [...rings.values()].flatMap(({ keyring }) => keyring.publicJwks(NOW).keys)
    response.setHeader('content-type', 'application/jwk-set+json')
    response.setHeader('cache-control', 'public, max-age=300')
    response.end(JSON.stringify({ keys }))
  })
  let jwksUrl: URL
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    jwksUrl = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`)
  })
  after(() => new Promise<void>((resolve) => server.close(() => resolve())))

  const sign = (alg: PublicAlg) =>
    signAccessToken(rings.get(alg)!.key, INPUT, { now: NOW, ttlSeconds: 600 }).token

  for (const alg of ALGS) {
    test(`${alg}: jose createRemoteJWKSet + jwtVerify accepts the token`, async () => {
      const jwks = createRemoteJWKSet(jwksUrl)
      const { payload, protectedHeader } = await jwtVerify(sign(alg), jwks, {
        issuer: ISSUER,
        audience: AUDIENCE,
        typ: 'at+jwt',
        algorithms: [alg],
        currentDate: new Date(NOW),
      })
      assert.equal(protectedHeader.typ, 'at+jwt')
      assert.equal(protectedHeader.kid, rings.get(alg)!.key.kid)
      assert.deepEqual(
        [payload.sub, payload.sid, payload.ver, payload.roles],
        ['user-1', 'login-1', 2, ['admin']],
      )
    })

    test(`${alg}: latchkey/verify accepts the token from the served JWKS`, async () => {
      const verifier = createVerifier({
        jwksUrl,
        issuer: ISSUER,
        audience: AUDIENCE,
        clock: () => NOW,
      })
      assert.equal((await verifier.verify(sign(alg))).sub, 'user-1')
    })

    test(`${alg}: the served JWK carries kid, alg, use and no private member`, async () => {
      const { keys } = (await (await fetch(jwksUrl)).json()) as { keys: Record<string, unknown>[] }
      const jwk = keys.find((candidate) => candidate.kid === rings.get(alg)!.key.kid)!
      assert.equal(jwk.alg, alg)
      assert.equal(jwk.use, 'sig')
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) assert.ok(!(member in jwk))
    })
  }

  for (const alg of ['ES256', 'RS256'] as const) {
    test(`${alg}: jsonwebtoken accepts the token with the key from the served JWKS`, async () => {
      const token = sign(alg)
      const verified = jwt.verify(token, await keyFromJwks(jwksUrl, token), {
        algorithms: [alg],
        issuer: ISSUER,
        audience: AUDIENCE,
        clockTimestamp: NOW_SECONDS,
      })
      assert.equal(typeof verified === 'object' && verified.sub, 'user-1')
    })
  }

  test('EdDSA: jsonwebtoken 9 does not support it (documented refusal)', async () => {
    const token = sign('EdDSA')
    const key = await keyFromJwks(jwksUrl, token)
    assert.throws(
      () => jwt.verify(token, key, { clockTimestamp: NOW_SECONDS }),
      /invalid algorithm/,
    )
    assert.throws(
      () =>
        jwt.verify(token, key, {
          algorithms: ['EdDSA' as jwt.Algorithm],
          clockTimestamp: NOW_SECONDS,
        }),
      /Unknown key type "ed25519"/,
    )
  })

  describe("another issuer's key", async () => {
    const other = new Keyring({ store: memoryKeyStore(), masterSecret: Buffer.alloc(32, 42) })
    const otherKey = await other.ensure(NOW)

    test('is rejected by the server verifier (its kid is unknown)', () => {
      const token = signAccessToken(otherKey, INPUT, { now: NOW }).token
      assertAuthError(
        () => verifierFor(rings.get('EdDSA')!.keyring)(token),
        'invalid_token',
        /"kid"/,
      )
    })

    test('is rejected by latchkey/verify against our JWKS', async () => {
      const verifier = createVerifier({
        jwksUrl,
        issuer: ISSUER,
        audience: AUDIENCE,
        clock: () => NOW,
      })
      const token = signAccessToken(otherKey, INPUT, { now: NOW }).token
      await assertRejectsAuth(verifier.verify(token), 'invalid_token', /"kid"/)
    })

    test('is rejected even when it claims one of our kids', async () => {
      const ours = rings.get('EdDSA')!.key
      const token = signedWith({ ...otherKey, kid: ours.kid }, header(ours), claims())
      assertAuthError(
        () => verifierFor(rings.get('EdDSA')!.keyring)(token),
        'invalid_token',
        /signature/,
      )
      await assert.rejects(
        jwtVerify(token, createRemoteJWKSet(jwksUrl), { currentDate: new Date(NOW) }),
        /signature verification failed/,
      )
    })
  })

  test('the served JWKS was actually fetched over HTTP', () => assert.ok(requests > 0))
})

/** What a jsonwebtoken user does: pick the JWK by the token's kid and import it. */
async function keyFromJwks(url: URL, token: string) {
  const decoded = jwt.decode(token, { complete: true })
  assert.ok(decoded !== null)
  const { keys } = (await (await fetch(url)).json()) as { keys: { kid: string }[] }
  const jwk = keys.find((candidate) => candidate.kid === decoded.header.kid)
  assert.ok(jwk !== undefined)
  return createPublicKey({ key: jwk, format: 'jwk' })
}
