/*
 * The keyring's life cycle: first key, rotation (published before it signs), retirement
 * (published until its tokens have expired), removal, and other nodes following along.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ConfigError } from '../errors.js'
import { signAccessToken } from './access-token.js'
import {
  AUDIENCE,
  assertAuthError,
  ISSUER,
  MASTER_SECRET,
  NOW,
  verifierFor,
} from './fixtures.test.js'
import { memoryKeyStore } from './key-store.js'
import { JWKS_MAX_AGE_SECONDS, Keyring } from './keyring.js'

const SECOND = 1000
const MINUTE = 60 * SECOND
const INPUT = { iss: ISSUER, sub: 'user-1', aud: AUDIENCE, sid: 'login-1', ver: 0 }
const newKeyring = (store = memoryKeyStore()) => new Keyring({ store, masterSecret: MASTER_SECRET })
const kids = (keyring: Keyring, now: number) => keyring.publicJwks(now).keys.map((jwk) => jwk.kid)

describe('a fresh keyring', () => {
  test('makes one EdDSA key that signs at once', async () => {
    const keyring = newKeyring()
    const key = await keyring.ensure(NOW)
    assert.equal(key.alg, 'EdDSA')
    assert.equal(keyring.signingKey(NOW).kid, key.kid)
    assert.deepEqual(kids(keyring, NOW), [key.kid])
    assert.equal(keyring.list(NOW)[0]?.status, 'signing')
  })

  test('concurrent ensure calls make a single key', async () => {
    const store = memoryKeyStore()
    const keyring = newKeyring(store)
    const keys = await Promise.all(Array.from({ length: 5 }, () => keyring.ensure(NOW)))
    assert.equal(new Set(keys.map((key) => key.kid)).size, 1)
    assert.equal((await store.listSigningKeys()).length, 1)
  })

  test('publishes each JWK with kid, alg and use, and nothing private', async () => {
    const keyring = newKeyring()
    await keyring.ensure(NOW)
    const [jwk] = keyring.publicJwks(NOW).keys
    assert.deepEqual(Object.keys(jwk!).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x'])
    assert.equal(jwk!.use, 'sig')
  })

  test('refuses a short master secret, HS256 without a secret, and a short HS256 secret', () => {
    const store = memoryKeyStore()
    assert.throws(() => new Keyring({ store, masterSecret: Buffer.alloc(16) }), ConfigError)
    assert.throws(
      () => new Keyring({ store, masterSecret: MASTER_SECRET, alg: 'HS256' }),
      ConfigError,
    )
    const hmacSecret = Buffer.alloc(31)
    assert.throws(
      () => new Keyring({ store, masterSecret: MASTER_SECRET, alg: 'HS256', hmacSecret }),
      /32 bytes/,
    )
  })

  test('refuses RSA keys under 2048 bits', async () => {
    const keyring = new Keyring({
      store: memoryKeyStore(),
      masterSecret: MASTER_SECRET,
      alg: 'RS256',
      rsaBits: 1024,
    })
    await assert.rejects(keyring.ensure(NOW), /at least 2048 bits/)
  })
})

describe('rotation end to end', async () => {
  const store = memoryKeyStore()
  const keyring = newKeyring(store)
  const verify = verifierFor(keyring)
  const first = await keyring.ensure(NOW)
  const rotatedAt = NOW + MINUTE
  const delay = JWKS_MAX_AGE_SECONDS * SECOND
  const activation = rotatedAt + delay
  // Signed just before the new key takes over, so it lives longest of all old-key tokens.
  const lastOldToken = signAccessToken(first, INPUT, { now: activation - 1 })
  const rotated = await keyring.rotate(rotatedAt)

  test('the new key is published at once but does not sign yet', () => {
    assert.equal(rotated.status, 'pending')
    assert.equal(rotated.activatesAt, activation)
    assert.deepEqual(new Set(kids(keyring, rotatedAt)), new Set([first.kid, rotated.kid]))
    assert.equal(keyring.signingKey(rotatedAt).kid, first.kid)
    assert.equal(keyring.signingKey(activation - 1).kid, first.kid)
  })

  test('the new key signs from its activation (after the JWKS max-age)', () => {
    assert.equal(keyring.signingKey(activation).kid, rotated.kid)
    const statuses = Object.fromEntries(
      keyring.list(activation).map((key) => [key.kid, key.status]),
    )
    assert.deepEqual(statuses, { [first.kid]: 'retired', [rotated.kid]: 'signing' })
  })

  test('the old key retires at the activation and stays published for the max TTL + skew', () => {
    const old = keyring.list(activation).find((key) => key.kid === first.kid)!
    assert.equal(old.retiredAt, activation)
    assert.equal(old.expiresAt, activation + 600 * SECOND + 30 * SECOND)
    assert.ok(kids(keyring, old.expiresAt - 1).includes(first.kid))
    assert.ok(!kids(keyring, old.expiresAt).includes(first.kid))
  })

  test('tokens signed before the rotation verify until they expire', () => {
    const { token, claims } = lastOldToken
    assert.equal((verify(token, activation + MINUTE) as { jti: string }).jti, claims.jti)
    assert.doesNotThrow(() => verify(token, claims.exp * 1000 - 1))
    assertAuthError(() => verify(token, claims.exp * 1000 + 30 * SECOND), 'token_expired')
  })

  test('tokens of the new key verify too', () => {
    const { token } = signAccessToken(keyring.signingKey(activation), INPUT, { now: activation })
    assert.equal((verify(token, activation) as { sub: string }).sub, 'user-1')
  })

  test('removal waits for expiresAt; then old tokens fail with invalid_token, naming the kid', async () => {
    const expiresAt = keyring.list(activation).find((key) => key.kid === first.kid)!.expiresAt!
    assert.deepEqual(await keyring.removeExpired(expiresAt - 1), [])
    assert.deepEqual(await keyring.removeExpired(expiresAt), [first.kid])
    assert.equal((await store.listSigningKeys()).length, 1)
    assert.equal(keyring.keyFor(first.kid), undefined)
    const { token } = lastOldToken
    assertAuthError(
      () => verify(token, expiresAt),
      'invalid_token',
      /No signing key has this "kid" \(unknown, or retired and removed\)/,
    )
  })

  test('another node sharing the store follows after refresh()', async () => {
    const other = newKeyring(store)
    await other.refresh()
    assert.equal(other.signingKey(activation).kid, rotated.kid)
  })
})

describe('automatic rotation', () => {
  test('rotationDue compares the newest key with the interval; maintain rotates and cleans', async () => {
    const keyring = newKeyring()
    const day = 24 * 60 * MINUTE
    assert.equal(keyring.rotationDue(NOW, day), true, 'an empty keyring is due')
    await keyring.ensure(NOW)
    assert.equal(keyring.rotationDue(NOW + day - 1, day), false)
    assert.equal(keyring.rotationDue(NOW + day, day), true)
    await keyring.maintain(NOW + day, day)
    assert.equal(keyring.list(NOW + day).length, 2)
    assert.equal(keyring.rotationDue(NOW + day, day), false)
    await keyring.maintain(NOW + 2 * day, 7 * day)
    assert.equal(keyring.list(NOW + 2 * day).length, 1, 'the retired key is gone')
  })

  test('a second rotation before the first activates retires the pending key at the newer activation', async () => {
    const keyring = newKeyring()
    const first = await keyring.ensure(NOW)
    const second = await keyring.rotate(NOW + MINUTE)
    const third = await keyring.rotate(NOW + 2 * MINUTE)
    const byKid = new Map(keyring.list(NOW + 2 * MINUTE).map((key) => [key.kid, key]))
    assert.equal(byKid.get(first.kid)!.retiredAt, second.activatesAt)
    assert.equal(byKid.get(second.kid)!.retiredAt, third.activatesAt)
    assert.equal(keyring.signingKey(second.activatesAt).kid, second.kid)
    assert.equal(keyring.signingKey(third.activatesAt).kid, third.kid)
  })
})
