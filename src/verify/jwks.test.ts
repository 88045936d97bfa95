/* Strict JWKS parsing for latchkey/verify: only the key shapes Latchkey publishes. */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { describe, test } from 'node:test'
import { keyringFor, NOW } from '../tokens/fixtures.test.js'
import type { PublicJwk } from '../tokens/key-material.js'
import { JwksFormatError, parseJwks } from './jwks.js'

async function publishedJwk(alg: 'EdDSA' | 'ES256' | 'RS256'): Promise<PublicJwk> {
  const { keyring } = await keyringFor(alg)
  return keyring.publicJwks(NOW).keys[0]!
}

/** Keys Latchkey never publishes: P-384, a 1024-bit RSA modulus, Ed448. */
function jwkOf(type: 'ec' | 'ed448' | 'rsa'): Record<string, unknown> {
  const { publicKey } =
    type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-384' })
      : type === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: 1024 })
        : generateKeyPairSync('ed448')
  return { ...publicKey.export({ format: 'jwk' }) }
}

describe('parseJwks', async () => {
  const ed = await publishedJwk('EdDSA')
  const es = await publishedJwk('ES256')
  const rs = await publishedJwk('RS256')

  test('imports the three published key types with their alg', async () => {
    const keys = await parseJwks({ keys: [ed, es, rs] })
    assert.deepEqual(
      [...keys].map(([kid, key]) => [kid, key.alg, key.key.type]),
      [
        [ed.kid, 'EdDSA', 'public'],
        [es.kid, 'ES256', 'public'],
        [rs.kid, 'RS256', 'public'],
      ],
    )
  })

  const skipped: [string, () => unknown][] = [
    ['use "enc"', () => ({ ...ed, use: 'enc' })],
    ['key_ops without "verify"', () => ({ ...ed, key_ops: ['encrypt'] })],
    ['no alg', () => ({ ...ed, alg: undefined })],
    ['alg "none"', () => ({ ...ed, alg: 'none' })],
    [
      'alg "HS256" (oct key)',
      () => ({ kty: 'oct', k: 'c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0', alg: 'HS256', kid: 'h' }),
    ],
    ['alg "RS512"', () => ({ ...rs, alg: 'RS512' })],
    ['alg "eddsa" (wrong case)', () => ({ ...ed, alg: 'eddsa' })],
    ['EdDSA on an EC key', () => ({ ...es, alg: 'EdDSA' })],
    ['ES256 on an OKP key', () => ({ ...ed, alg: 'ES256' })],
    ['ES256 on a P-384 key', () => ({ ...jwkOf('ec'), alg: 'ES256', kid: 'p384' })],
    ['EdDSA on an Ed448 key', () => ({ ...jwkOf('ed448'), alg: 'EdDSA', kid: 'ed448' })],
    ['RS256 with a 1024-bit modulus', () => ({ ...jwkOf('rsa'), alg: 'RS256', kid: 'weak' })],
    ['a private member "d"', () => ({ ...ed, d: ed.x })],
    ['no kid', () => ({ ...ed, kid: undefined })],
    ['an empty kid', () => ({ ...ed, kid: '' })],
    ['a numeric kid', () => ({ ...ed, kid: 7 })],
    ['a bad coordinate', () => ({ ...es, x: 'AAAA' })],
    ['not an object', () => 'key'],
  ]
  for (const [name, make] of skipped) {
    test(`a key with ${name} is skipped`, async () => {
      const keys = await parseJwks({ keys: [make(), es] })
      assert.deepEqual([...keys.keys()], [es.kid])
    })
  }

  test('use "sig" and key_ops ["verify"] are accepted', async () => {
    const keys = await parseJwks({ keys: [{ ...ed, use: 'sig', key_ops: ['verify'] }] })
    assert.equal(keys.size, 1)
  })

  test('a kid that appears twice is dropped altogether', async () => {
    const keys = await parseJwks({ keys: [ed, { ...es, kid: ed.kid }, rs] })
    assert.deepEqual([...keys.keys()], [rs.kid])
  })

  for (const [name, document] of [
    ['an array', [ed]],
    ['null', null],
    ['an object without keys', {}],
    ['keys that is not an array', { keys: ed }],
  ] as const) {
    test(`a document that is ${name} is refused`, async () => {
      await assert.rejects(parseJwks(document), JwksFormatError)
    })
  }
})
