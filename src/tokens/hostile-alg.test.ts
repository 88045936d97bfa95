/*
 * SECURITY.md "Access tokens": the algorithm comes from the key, never from the token;
 * key confusion (HS256 signed with the public key in any encoding) fails.
 */
import assert from 'node:assert/strict'
import { createHmac, generateKeyPairSync } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { describe, test } from 'node:test'
import type { PublicAlg } from './algorithms.js'
import {
  assertAuthError,
  claims,
  forgeSegments,
  header,
  keyringFor,
  segment,
  signedWith,
  verifierFor,
} from './fixtures.test.js'
import { signBytes, verifySignature } from './signature.js'

const PUBLIC_ALGS: PublicAlg[] = ['EdDSA', 'ES256', 'RS256']

describe('alg: none and missing signatures', async () => {
  const { keyring, key } = await keyringFor('EdDSA')
  const verify = verifierFor(keyring)

  for (const alg of ['none', 'NONE', 'nOnE', 'None']) {
    test(`alg "${alg}" with an empty signature is rejected`, () => {
      const token = `${segment(header(key, { alg }))}.${segment(claims())}.`
      assertAuthError(() => verify(token), 'invalid_token')
    })
    test(`alg "${alg}" with a signature present is rejected`, () => {
      const token = forgeSegments(segment(header(key, { alg })), segment(claims()), () =>
        Buffer.alloc(64, 1),
      )
      assertAuthError(() => verify(token), 'invalid_token', /"none"/)
    })
  }

  test('an empty signature segment is rejected', () => {
    const token = `${segment(header(key))}.${segment(claims())}.`
    assertAuthError(() => verify(token), 'invalid_token', /no signature/)
  })

  test('a missing signature segment is rejected', () => {
    const token = `${segment(header(key))}.${segment(claims())}`
    assertAuthError(() => verify(token), 'invalid_token', /three/)
  })

  test('a missing "alg" is rejected', () => {
    const token = signedWith(key, header(key, { alg: undefined }), claims())
    assertAuthError(() => verify(token), 'invalid_token', /"alg"/)
  })

  test('a non-string "alg" is rejected', () => {
    const token = signedWith(key, header(key, { alg: ['EdDSA'] }), claims())
    assertAuthError(() => verify(token), 'invalid_token', /"alg"/)
  })
})

describe('alg must be exactly the key’s', async () => {
  const { keyring, key } = await keyringFor('EdDSA')
  const verify = verifierFor(keyring)

  test('a correctly signed token verifies (control)', () => {
    const token = signedWith(key, header(key), claims())
    assert.equal((verify(token) as { sub: string }).sub, 'user-1')
  })

  for (const alg of ['eddsa', 'Ed25519', 'HS512', 'PS256', 'ES512']) {
    test(`alg "${alg}" (not in the allowlist) is rejected`, () => {
      const token = signedWith(key, header(key, { alg }), claims())
      assertAuthError(() => verify(token), 'invalid_token', /not accepted/)
    })
  }

  for (const alg of ['ES256', 'RS256', 'HS256'] as const) {
    test(`alg ${alg} on the kid of an EdDSA key is rejected`, async () => {
      const { key: other } = await keyringFor(alg)
      const token = signedWith(other, header(key, { alg }), claims())
      assertAuthError(() => verify(token), 'invalid_token', /does not match/)
    })
  }
})

describe('key confusion: HS256 signed with the public key', async () => {
  for (const alg of PUBLIC_ALGS) {
    const { keyring, key } = await keyringFor(alg)
    const verify = verifierFor(keyring)
    const publicKey = keyring.keyFor(key.kid)!.key
    for (const [encoding, secret] of publicKeyEncodings(publicKey, keyring.publicJwks(0).keys[0])) {
      test(`${alg} key as ${encoding} used as an HS256 secret is rejected`, () => {
        const token = forgeSegments(
          segment(header(key, { alg: 'HS256' })),
          segment(claims()),
          (input) => createHmac('sha256', secret).update(input).digest(),
        )
        assertAuthError(() => verify(token), 'invalid_token', /does not match/)
      })
    }
    test(`${alg}: even a resolver that labels the public key HS256 cannot verify`, () => {
      const mislabeled = verifierFor(keyring, {
        resolveKey: () => ({ alg: 'HS256', key: publicKey }),
      })
      const pem = publicKey.export({ type: 'spki', format: 'pem' })
      const token = forgeSegments(
        segment(header(key, { alg: 'HS256' })),
        segment(claims()),
        (input) => createHmac('sha256', pem).update(input).digest(),
      )
      assertAuthError(() => mislabeled(token), 'invalid_token', /signature/)
    })
  }

  test('verifySignature refuses HS256 with any asymmetric key object', () => {
    const { publicKey } = generateKeyPairSync('ed25519')
    const data = Buffer.from('a.b')
    const mac = createHmac('sha256', publicKey.export({ type: 'spki', format: 'der' }))
    assert.equal(verifySignature('HS256', publicKey, data, mac.update(data).digest()), false)
  })

  test('an HS256 keyring verifies its own tokens, and not those of another secret', async () => {
    const { keyring, key } = await keyringFor('HS256')
    const verify = verifierFor(keyring)
    assert.equal((verify(signedWith(key, header(key), claims())) as { ver: number }).ver, 3)
    const forged = forgeSegments(segment(header(key)), segment(claims()), (input) =>
      createHmac('sha256', Buffer.alloc(32, 1)).update(input).digest(),
    )
    assertAuthError(() => verify(forged), 'invalid_token', /signature/)
    assert.equal(keyring.publicJwks(0).keys.length, 0, 'HS256 keys are never published')
  })

  test('an ES256 signature of the right shape from another key fails', async () => {
    const { keyring, key } = await keyringFor('ES256')
    const { key: other } = await keyringFor('ES256')
    const token = forgeSegments(segment(header(key)), segment(claims()), (input) =>
      signBytes('ES256', other.privateKey, input),
    )
    assertAuthError(() => verifierFor(keyring)(token), 'invalid_token', /signature/)
  })
})

/** Every way an attacker might hand the public key to an HMAC. */
function publicKeyEncodings(key: KeyObject, jwk: unknown): [string, Buffer | string][] {
  const pem = key.export({ type: 'spki', format: 'pem' }).toString()
  const der = key.export({ type: 'spki', format: 'der' })
  const encodings: [string, Buffer | string][] = [
    ['SPKI PEM', pem],
    ['SPKI PEM without trailing newline', pem.trim()],
    ['SPKI PEM with surrounding whitespace', `\n  ${pem}\n\n`],
    ['SPKI PEM with junk around it', `junk${pem}junk`],
    ['SPKI DER bytes', der],
    ['SPKI DER base64', der.toString('base64')],
    ['SPKI DER base64 with whitespace', ` ${der.toString('base64')}\n`],
    ['published JWK JSON', JSON.stringify(jwk)],
    ['node JWK JSON', JSON.stringify(key.export({ format: 'jwk' }))],
  ]
  if (key.asymmetricKeyType === 'rsa') {
    const pkcs1 = key.export({ type: 'pkcs1', format: 'pem' }).toString()
    encodings.push(['PKCS#1 PEM', pkcs1], ['PKCS#1 PEM with whitespace', ` ${pkcs1}\n`])
    encodings.push([
      'PKCS#1 DER base64',
      key.export({ type: 'pkcs1', format: 'der' }).toString('base64'),
    ])
  }
  return encodings
}
