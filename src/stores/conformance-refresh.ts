import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { describe, it } from 'node:test'
import type { LoginRecord, RefreshTokenRecord, Rotation, Store } from './contract.js'

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

  /**
   * Rotates `parent` presenting its own secret hash, renewing a login last seen before
   * `now`, unless `fields` say otherwise.
   */
  const rotate = (parent: RefreshTokenRecord, now: number, fields: Partial<Rotation> = {}) => {
    const child = { id: randomUUID(), secretHash: new Uint8Array(randomBytes(32)) }
    const rotation = { parentId: parent.id, secretHash: parent.secretHash, child, now }
    const defaults = { idleMs: DAY, renewIfSeenBefore: now }
    return { child, rotated: store().rotateRefreshToken({ ...rotation, ...defaults, ...fields }) }
  }

  /** A stored token that must exist. */
  async function stored(id: string): Promise<RefreshTokenRecord> {
    const token = await store().getRefreshToken(id)
    assert.ok(token !== null)
    return token
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
      const { child, rotated } = rotate(first, T0 + MINUTE, { idleMs: 2 * DAY - MINUTE })
      assert.ok(await rotated)
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

    it('rotation spends the parent, stores the child in its family and renews the login', async () => {
      const { login, first } = await givenFamily()
      const user = await store().getUserById(login.userId)
      const now = T0 + MINUTE
      const { child, rotated } = rotate(first, now, { idleMs: 7 * DAY })
      const touched = { ...login, lastSeenAt: now, idleExpiresAt: now + 7 * DAY }
      assert.deepEqual(await rotated, { login: touched, user, renewed: true })
      assert.deepEqual(plain(await store().getRefreshToken(first.id)), {
        ...plain(first),
        spentAt: now,
        childId: child.id,
      })
      assert.deepEqual(plain(await store().getRefreshToken(child.id)), {
        id: child.id,
        familyId: login.id,
        userId: login.userId,
        secretHash: [...child.secretHash],
        createdAt: now,
        spentAt: null,
        childId: null,
      })
      assert.deepEqual(await store().getLogin(login.id), touched)
    })

    it('rotation leaves a login seen since `renewIfSeenBefore` as it is', async () => {
      const { login, first } = await givenFamily()
      const user = await store().getUserById(login.userId)
      const now = T0 + MINUTE
      // Last seen at T0 exactly: not before T0, so no renewal.
      const { child, rotated } = rotate(first, now, { idleMs: 7 * DAY, renewIfSeenBefore: T0 })
      assert.deepEqual(await rotated, { login, user, renewed: false })
      assert.equal((await store().getRefreshToken(first.id))?.childId, child.id)
      assert.equal((await store().getRefreshToken(child.id))?.familyId, login.id)
      assert.deepEqual(await store().getLogin(login.id), login)
      // The child renews once the login counts as seen long enough ago.
      const next = rotate(await stored(child.id), now + 1, {
        idleMs: 7 * DAY,
        renewIfSeenBefore: T0 + 1,
      })
      const renewed = { ...login, lastSeenAt: now + 1, idleExpiresAt: now + 1 + 7 * DAY }
      assert.deepEqual(await next.rotated, { login: renewed, user, renewed: true })
      assert.deepEqual(await store().getLogin(login.id), renewed)
    })

    it('rotation answers the login and user exactly as stored, whatever their text holds', async () => {
      const { login, first } = await givenFamily({
        ip: '2001:db8::1',
        userAgent: 'Mozilla/5.0 "quoted" \\ back\\slash, tab\there, naïve ☃ 𝄞 </script>',
      })
      const user = await store().getUserById(login.userId)
      const now = T0 + MINUTE
      // Not renewed: the login is answered as the statement read it.
      const { child, rotated } = rotate(first, now, { renewIfSeenBefore: T0 })
      assert.deepEqual(await rotated, { login, user, renewed: false })
      // Renewed: the same, with the two fields a renewal writes.
      const next = rotate(await stored(child.id), now + 1, { idleMs: DAY })
      const renewed = { ...login, lastSeenAt: now + 1, idleExpiresAt: now + 1 + DAY }
      assert.deepEqual(await next.rotated, { login: renewed, user, renewed: true })
    })

    it('rotation never moves the idle expiry past the absolute one', async () => {
      const { login, first } = await givenFamily()
      const { rotated } = rotate(first, T0 + MINUTE, { idleMs: 365 * DAY })
      assert.equal((await rotated)?.login?.idleExpiresAt, login.absoluteExpiresAt)
      assert.equal((await store().getLogin(login.id))?.idleExpiresAt, login.absoluteExpiresAt)
    })

    /** A rotation that must be refused, and must leave everything as it was. */
    async function refused(
      family: Awaited<ReturnType<typeof givenFamily>>,
      now: number,
      fields: Partial<Rotation> = {},
    ) {
      const { login, first } = family
      const before = plain(await store().getRefreshToken(first.id))
      const loginBefore = await store().getLogin(login.id)
      const { child, rotated } = rotate(first, now, fields)
      assert.equal(await rotated, null)
      assert.equal(await store().getRefreshToken(child.id), null)
      assert.deepEqual(plain(await store().getRefreshToken(first.id)), before)
      assert.deepEqual(await store().getLogin(login.id), loginBefore)
    }

    it('refuses a wrong secret or an unknown parent, and writes nothing', async () => {
      const family = await givenFamily()
      await refused(family, T0 + 1, { secretHash: new Uint8Array(randomBytes(32)) })
      await refused(family, T0 + 1, { secretHash: family.first.secretHash.subarray(1) })
      await refused(family, T0 + 1, { parentId: randomUUID() })
    })

    it('refuses a spent parent, and writes nothing', async () => {
      const family = await givenFamily()
      const { child, rotated } = rotate(family.first, T0 + 1)
      assert.ok(await rotated)
      await refused(family, T0 + 2)
      assert.equal((await store().getRefreshToken(family.first.id))?.childId, child.id)
    })

    it('refuses a token of a dead family, and writes nothing', async () => {
      await refused(await givenFamily({ revokedAt: T0 }), T0 + 1)
      const idle = await givenFamily()
      await refused(idle, idle.login.idleExpiresAt)
      const absolute = await givenFamily({ idleExpiresAt: T0 + 40 * DAY })
      await refused(absolute, absolute.login.absoluteExpiresAt)
      await refused(await givenFamily({ kind: 'session', secretHash: new Uint8Array(32) }), T0 + 1)
    })

    it("refuses a token that is not its family's user's, and writes nothing", async () => {
      const { login } = await givenFamily()
      const stray = { ...aToken(login), userId: randomUUID() }
      await store().createRefreshToken(stray)
      await refused({ login, first: stray }, T0 + 1)
    })

    it('100 concurrent rotations of one parent leave exactly one child', async () => {
      const { first } = await givenFamily()
      const attempts = Array.from({ length: 100 }, () => rotate(first, T0 + 1))
      const results = await Promise.all(attempts.map(({ rotated }) => rotated))
      const won = results.map((result) => result !== null)
      assert.equal(won.filter(Boolean).length, 1)
      const winner = attempts[won.indexOf(true)]!.child
      assert.equal((await store().getRefreshToken(first.id))?.childId, winner.id)
      const stored = await Promise.all(
        attempts.map(({ child }) => store().getRefreshToken(child.id)),
      )
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
