import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { describe, it } from 'node:test'
import type { LoginRecord, RefreshTokenRecord, Store } from './contract.js'

const T0 = 1_700_000_000_000
const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE

/** The refresh-token part of the conformance suite; registered by `storeConformanceSuite`. */
export function refreshConformanceTests(store: () => Store): void {
  /** A user with a token login (the family) and the family's first token. */
  async function givenFamily(fields: Partial<LoginRecord> = {}) {
    const userId = randomUUID()
    await store().createUser({
      id: userId,
      email: `${userId}@example.com`,
      emailNormalized: `${userId}@example.com`,
      passwordHash: 'hash',
      tokenVersion: 1,
      createdAt: T0,
      updatedAt: T0,
    })
    const login: LoginRecord = {
      id: randomUUID(),
      userId,
      kind: 'token',
      secretHash: null,
      createdAt: T0,
      lastSeenAt: T0,
      idleExpiresAt: T0 + 7 * DAY,
      absoluteExpiresAt: T0 + 30 * DAY,
      ip: null,
      userAgent: null,
      revokedAt: null,
      ...fields,
    }
    await store().createLogin(login)
    const first = aToken(login)
    await store().createRefreshToken(first)
    return { login, first }
  }

  function aToken(login: LoginRecord, createdAt = T0): RefreshTokenRecord {
    return {
      id: randomUUID(),
      familyId: login.id,
      userId: login.userId,
      secretHash: new Uint8Array(randomBytes(32)),
      createdAt,
      spentAt: null,
      childId: null,
    }
  }

  const plain = (token: RefreshTokenRecord | null) =>
    token && { ...token, secretHash: [...token.secretHash] }

  describe('refresh tokens', () => {
    it('stores a token and reads it back by id with every field', async () => {
      const { first } = await givenFamily()
      assert.deepEqual(plain(await store().getRefreshToken(first.id)), plain(first))
      assert.equal(await store().getRefreshToken(randomUUID()), null)
    })

    it('reads a token with its family login and user in one call', async () => {
      const { login, first } = await givenFamily()
      const user = await store().getUserById(login.userId)
      const got = await store().getRefreshTokenWithFamily(first.id)
      assert.ok(got !== null)
      assert.deepEqual(plain(got.token), plain(first))
      assert.deepEqual(got.login, login)
      assert.deepEqual(got.user, user)
      assert.equal(await store().getRefreshTokenWithFamily(randomUUID()), null)
    })

    it('the family read follows rotations and revocations, and hands out copies', async () => {
      const { login, first } = await givenFamily()
      const child = aToken(login, T0 + MINUTE)
      await store().rotateRefreshToken(first.id, child, T0 + MINUTE, T0 + 2 * DAY)
      await store().revokeLogin(login.userId, login.id, T0 + 2 * MINUTE)
      const got = await store().getRefreshTokenWithFamily(first.id)
      assert.equal(got?.token.childId, child.id)
      assert.equal(got?.login?.idleExpiresAt, T0 + 2 * DAY)
      assert.equal(got?.login?.revokedAt, T0 + 2 * MINUTE)
      assert.ok(got?.login && got.user)
      got.token.secretHash.fill(0)
      got.login.revokedAt = null
      got.user.tokenVersion = 99
      const again = await store().getRefreshTokenWithFamily(first.id)
      assert.deepEqual(again?.token.secretHash, first.secretHash)
      assert.equal(again?.login?.revokedAt, T0 + 2 * MINUTE)
      assert.equal(again?.user?.tokenVersion, 1)
    })

    it('refuses a token whose family does not exist', async () => {
      const { login } = await givenFamily()
      const orphan = { ...aToken(login), familyId: randomUUID() }
      await assert.rejects(store().createRefreshToken(orphan))
      assert.equal(await store().getRefreshToken(orphan.id), null)
    })

    it('hands out copies: changing a returned record changes nothing stored', async () => {
      const { first } = await givenFamily()
      const got = await store().getRefreshToken(first.id)
      assert.ok(got !== null)
      got.secretHash.fill(0)
      got.spentAt = 1
      assert.deepEqual(plain(await store().getRefreshToken(first.id)), plain(first))
    })

    it('rotation spends the parent, stores the child and touches the family', async () => {
      const { login, first } = await givenFamily()
      const child = aToken(login, T0 + MINUTE)
      const idle = T0 + MINUTE + 7 * DAY
      assert.equal(await store().rotateRefreshToken(first.id, child, T0 + MINUTE, idle), true)
      assert.deepEqual(plain(await store().getRefreshToken(first.id)), {
        ...plain(first),
        spentAt: T0 + MINUTE,
        childId: child.id,
      })
      assert.deepEqual(plain(await store().getRefreshToken(child.id)), plain(child))
      const family = await store().getLogin(login.id)
      assert.equal(family?.lastSeenAt, T0 + MINUTE)
      assert.equal(family?.idleExpiresAt, idle)
      assert.equal(family?.absoluteExpiresAt, login.absoluteExpiresAt)
    })

    it('a spent or unknown parent loses and writes nothing', async () => {
      const { login, first } = await givenFamily()
      const winner = aToken(login)
      assert.equal(await store().rotateRefreshToken(first.id, winner, T0 + 1, T0 + DAY), true)
      const loser = aToken(login)
      assert.equal(await store().rotateRefreshToken(first.id, loser, T0 + 2, T0 + 2 * DAY), false)
      assert.equal(await store().rotateRefreshToken(randomUUID(), aToken(login), T0, T0), false)
      assert.equal(await store().getRefreshToken(loser.id), null)
      assert.equal((await store().getRefreshToken(first.id))?.childId, winner.id)
      assert.equal((await store().getLogin(login.id))?.idleExpiresAt, T0 + DAY)
    })

    it('a revoked family keeps its revocation and idle expiry through a rotation', async () => {
      const { login, first } = await givenFamily({ revokedAt: T0 })
      assert.equal(
        await store().rotateRefreshToken(first.id, aToken(login), T0 + 1, T0 + DAY),
        true,
      )
      const family = await store().getLogin(login.id)
      assert.equal(family?.revokedAt, T0)
      assert.equal(family?.idleExpiresAt, login.idleExpiresAt)
    })

    it('100 concurrent rotations of one parent leave exactly one child', async () => {
      const { login, first } = await givenFamily()
      const children = Array.from({ length: 100 }, () => aToken(login, T0 + 1))
      const won = await Promise.all(
        children.map((child) => store().rotateRefreshToken(first.id, child, T0 + 1, T0 + DAY)),
      )
      assert.equal(won.filter(Boolean).length, 1)
      const winner = children[won.indexOf(true)]!
      assert.equal((await store().getRefreshToken(first.id))?.childId, winner.id)
      const stored = await Promise.all(children.map((child) => store().getRefreshToken(child.id)))
      assert.equal(stored.filter((token) => token !== null).length, 1)
    })

    it('deleteExpired takes a family’s tokens along with its login', async () => {
      const now = 3_000_000
      const { first } = await givenFamily({
        createdAt: 0,
        lastSeenAt: 0,
        idleExpiresAt: now,
        absoluteExpiresAt: now + DAY,
      })
      await store().deleteExpired(now)
      assert.equal(await store().getRefreshToken(first.id), null)
    })
  })
}
