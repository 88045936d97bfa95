/*
 * Private keys at rest: nothing usable in the stored record, bound to the master secret
 * and to their kid and alg (AAD).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ConfigError } from '../errors.js'
import type { SigningAlg } from './algorithms.js'
import { HMAC_SECRET, keyringFor, MASTER_SECRET, NOW } from './fixtures.test.js'
import { decryptPrivateKey, KeyDecryptionError } from './key-encryption.js'
import { memoryKeyStore } from './key-store.js'
import type { SigningKeyRecord } from './key-store.js'
import { Keyring } from './keyring.js'

const OTHER_SECRET = Buffer.alloc(32, 8)
const ALGS: SigningAlg[] = ['EdDSA', 'ES256', 'RS256', 'HS256']

async function storedKey(alg: SigningAlg) {
  const { key, store } = await keyringFor(alg)
  const [record] = await store.listSigningKeys()
  assert.ok(record !== undefined)
  return { key, record }
}

describe('encryption at rest', () => {
  for (const alg of ALGS) {
    test(`${alg}: the stored record holds no private key material in the clear`, async () => {
      const { key, record } = await storedKey(alg)
      const text = JSON.stringify(record)
      const secrets: string[] = []
      if (alg === 'HS256') {
        const raw = key.privateKey.export()
        secrets.push(raw.toString('base64'), raw.toString('base64url'), raw.toString('hex'))
      } else {
        const der = key.privateKey.export({ format: 'der', type: 'pkcs8' })
        const jwk = key.privateKey.export({ format: 'jwk' })
        secrets.push(der.toString('base64'), der.toString('base64url'), der.toString('hex'))
        for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) {
          if (typeof jwk[member] === 'string') secrets.push(jwk[member])
        }
        assert.ok(!('d' in (JSON.parse(record.publicJwk!) as object)))
      }
      assert.doesNotMatch(text, /PRIVATE KEY/)
      // A 16-character window of any encoding of the secret is enough to notice a leak.
      for (const secret of secrets)
        assert.ok(!text.includes(secret.slice(0, 16)), 'secret found in record')
      assert.match(record.encryptedPrivateKey, /^v1\.[\w-]{16}\.[\w-]+\.[\w-]{22}$/)
    })

    test(`${alg}: decrypting with another master secret fails`, async () => {
      const { record } = await storedKey(alg)
      assert.throws(
        () => decryptPrivateKey(OTHER_SECRET, record.kid, record.alg, record.encryptedPrivateKey),
        KeyDecryptionError,
      )
    })
  }

  test('the right secret decrypts to the same key', async () => {
    const { key, record } = await storedKey('EdDSA')
    const decrypted = decryptPrivateKey(
      MASTER_SECRET,
      record.kid,
      record.alg,
      record.encryptedPrivateKey,
    )
    assert.ok(decrypted.equals(key.privateKey))
  })

  test('a keyring started with another master secret refuses to load the keys', async () => {
    const { store } = await keyringFor('EdDSA')
    const keyring = new Keyring({ store, masterSecret: OTHER_SECRET })
    await assert.rejects(keyring.refresh(), (error: unknown) => {
      assert.ok(error instanceof ConfigError)
      assert.match(error.message, /wrong master secret, or the record was altered/)
      return true
    })
  })

  const tampered: [string, (record: SigningKeyRecord) => SigningKeyRecord][] = [
    ['the kid changed', (record) => ({ ...record, kid: `${record.kid}x` })],
    ['the alg changed (EdDSA → ES256)', (record) => ({ ...record, alg: 'ES256' })],
    ['the alg changed (EdDSA → HS256)', (record) => ({ ...record, alg: 'HS256' })],
    [
      'one ciphertext character changed',
      (record) => ({ ...record, encryptedPrivateKey: flipCipher(record) }),
    ],
    [
      'the version changed',
      (record) => ({
        ...record,
        encryptedPrivateKey: record.encryptedPrivateKey.replace(/^v1/, 'v2'),
      }),
    ],
    [
      'the auth tag cut off',
      (record) => ({
        ...record,
        encryptedPrivateKey: record.encryptedPrivateKey.replace(/\.[\w-]+$/, ''),
      }),
    ],
  ]
  for (const [name, tamper] of tampered) {
    test(`a record with ${name} does not decrypt, and the keyring refuses it`, async () => {
      const { record } = await storedKey('EdDSA')
      const bad = tamper(record)
      assert.throws(
        () => decryptPrivateKey(MASTER_SECRET, bad.kid, bad.alg, bad.encryptedPrivateKey),
        KeyDecryptionError,
      )
      const keyring = new Keyring({
        store: memoryKeyStore([bad]),
        masterSecret: MASTER_SECRET,
        hmacSecret: HMAC_SECRET,
      })
      await assert.rejects(keyring.ensure(NOW), ConfigError)
    })
  }

  test('a tampered public JWK (another key published under our kid) is refused', async () => {
    const { record } = await storedKey('EdDSA')
    const { record: other } = await storedKey('EdDSA')
    const bad = { ...record, publicJwk: other.publicJwk }
    const keyring = new Keyring({ store: memoryKeyStore([bad]), masterSecret: MASTER_SECRET })
    await assert.rejects(keyring.refresh(), /stored public JWK does not match/)
  })

  test('every record gets a fresh nonce', async () => {
    const nonces = new Set<string>()
    for (let i = 0; i < 5; i++)
      nonces.add((await storedKey('EdDSA')).record.encryptedPrivateKey.split('.')[1]!)
    assert.equal(nonces.size, 5)
  })
})

function flipCipher(record: SigningKeyRecord): string {
  const parts = record.encryptedPrivateKey.split('.')
  const cipher = parts[2]!
  parts[2] = (cipher[0] === 'A' ? 'B' : 'A') + cipher.slice(1)
  return parts.join('.')
}
