import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, it } from 'node:test'
import type { SigningKeyRecord, Store } from './contract.js'

const T0 = 1_700_000_000_000
const MINUTE = 60_000

function aKey(fields: Partial<SigningKeyRecord> = {}): SigningKeyRecord {
  const kid = randomUUID()
  return {
    kid,
    alg: 'EdDSA',
    publicJwk: JSON.stringify({
      kty: 'OKP',
      crv: 'Ed25519',
      x: kid,
      kid,
      alg: 'EdDSA',
      use: 'sig',
    }),
    encryptedPrivateKey: `v1.nonce.${kid}.tag`,
    createdAt: T0,
    activatesAt: T0,
    retiredAt: null,
    expiresAt: null,
    ...fields,
  }
}

/**
 * The signing-key and token-denylist part of the conformance suite; registered inside
 * `storeConformanceSuite`, which owns the store. Suites may share one database, so every
 * check looks only at the records it created.
 */
export function tokenConformanceTests(store: () => Store): void {
  const keyOf = async (kid: string) =>
    (await store().listSigningKeys()).find((record) => record.kid === kid)

  describe('signing keys', () => {
    it('stores a key and lists it with every field, nulls included', async () => {
      const key = aKey()
      const hmac = aKey({ alg: 'HS256', publicJwk: null, retiredAt: T0 + 1, expiresAt: T0 + 2 })
      await store().insertSigningKey(key)
      await store().insertSigningKey(hmac)
      assert.deepEqual(await keyOf(key.kid), key)
      assert.deepEqual(await keyOf(hmac.kid), hmac)
    })

    it('refuses a second key with the same kid and keeps the first', async () => {
      const key = aKey()
      await store().insertSigningKey(key)
      await assert.rejects(store().insertSigningKey({ ...key, alg: 'RS256' }))
      assert.deepEqual(await keyOf(key.kid), key)
    })

    it('hands out copies: changing a listed record changes nothing stored', async () => {
      const key = aKey()
      await store().insertSigningKey(key)
      const listed = await keyOf(key.kid)
      assert.ok(listed !== undefined)
      listed.retiredAt = 1
      key.expiresAt = 2
      assert.equal((await keyOf(key.kid))?.retiredAt, null)
      assert.equal((await keyOf(key.kid))?.expiresAt, null)
    })

    it('retires a key once; an unknown or retired kid is false', async () => {
      const key = aKey()
      await store().insertSigningKey(key)
      assert.equal(await store().retireSigningKey(key.kid, T0 + MINUTE, T0 + 20 * MINUTE), true)
      assert.equal(await store().retireSigningKey(key.kid, T0 + 2 * MINUTE, T0 + MINUTE), false)
      assert.equal(await store().retireSigningKey(randomUUID(), T0, T0), false)
      assert.deepEqual(await keyOf(key.kid), {
        ...key,
        retiredAt: T0 + MINUTE,
        expiresAt: T0 + 20 * MINUTE,
      })
    })

    it('deletes a key; deleting an unknown kid does nothing', async () => {
      const gone = aKey()
      const kept = aKey()
      await store().insertSigningKey(gone)
      await store().insertSigningKey(kept)
      await store().deleteSigningKey(gone.kid)
      await store().deleteSigningKey(randomUUID())
      assert.equal(await keyOf(gone.kid), undefined)
      assert.deepEqual(await keyOf(kept.kid), kept)
    })

    it('deleteExpired leaves signing keys alone (the keyring removes them)', async () => {
      const key = aKey({ retiredAt: 1, expiresAt: 2 })
      await store().insertSigningKey(key)
      await store().deleteExpired(3)
      assert.deepEqual(await keyOf(key.kid), key)
    })
  })

  describe('denied tokens', () => {
    it('a denied jti is denied until its expiry, and no other jti is', async () => {
      const jti = randomUUID()
      assert.equal(await store().isTokenDenied(jti, T0), false)
      await store().denyToken(jti, T0 + MINUTE)
      assert.equal(await store().isTokenDenied(jti, T0), true)
      assert.equal(await store().isTokenDenied(jti, T0 + MINUTE - 1), true)
      assert.equal(await store().isTokenDenied(jti, T0 + MINUTE), false)
      assert.equal(await store().isTokenDenied(randomUUID(), T0), false)
    })

    it('denying a jti again keeps the later expiry', async () => {
      const jti = randomUUID()
      await store().denyToken(jti, T0 + 2 * MINUTE)
      await store().denyToken(jti, T0 + MINUTE)
      assert.equal(await store().isTokenDenied(jti, T0 + MINUTE + 1), true)
      await store().denyToken(jti, T0 + 3 * MINUTE)
      assert.equal(await store().isTokenDenied(jti, T0 + 3 * MINUTE - 1), true)
    })

    it('20 concurrent denials of one jti all succeed', async () => {
      const jti = randomUUID()
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => store().denyToken(jti, T0 + (i + 1) * MINUTE)),
      )
      assert.equal(await store().isTokenDenied(jti, T0 + 20 * MINUTE - 1), true)
    })

    it('deleteExpired removes denials that ended and keeps the others', async () => {
      // Times far before every other test's, so a shared database loses nothing of theirs.
      const now = 2_000_000
      const ended = randomUUID()
      const live = randomUUID()
      await store().denyToken(ended, now)
      await store().denyToken(live, now + 1)
      assert.ok((await store().deleteExpired(now)) >= 1)
      assert.equal(await store().isTokenDenied(live, now), true)
      // Gone for good: re-checked at an earlier time, the row no longer answers.
      assert.equal(await store().isTokenDenied(ended, now - 1), false)
    })
  })
}
