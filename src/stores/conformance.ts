import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { StoreUnavailableError } from '../errors.js'
import { refreshConformanceTests } from './conformance-refresh.js'
import { revocationConformanceTests } from './conformance-revocation.js'
import { tokenConformanceTests } from './conformance-tokens.js'
import type { LoginRecord, Store, UserRecord } from './contract.js'
import { HOUR, MINUTE, T0, aLogin, aUser } from './fixtures.js'

// Compares hashes by their bytes: a Buffer is as good a Uint8Array as any other.
function plain(login: LoginRecord | null): unknown {
  return login && { ...login, secretHash: login.secretHash && [...login.secretHash] }
}

const sorted = (ids: string[]): string[] => [...ids].sort()

/** Registers `node:test` tests that every {@link Store} implementation must pass. */
export function storeConformanceSuite(
  name: string,
  open: () => Promise<{ store: Store; close: () => Promise<void> }>,
): void {
  describe(`store conformance: ${name}`, () => {
    let store: Store
    let close: () => Promise<void>
    before(async () => {
      ;({ store, close } = await open())
    })
    after(() => close())

    async function givenUser(fields: Partial<UserRecord> = {}): Promise<UserRecord> {
      const user = aUser(fields)
      assert.deepEqual(await store.createUser(user), user)
      return user
    }

    async function givenLogin(
      userId: string,
      fields: Partial<LoginRecord> = {},
    ): Promise<LoginRecord> {
      const login = aLogin(userId, fields)
      await store.createLogin(login)
      return login
    }

    async function revokedAt(loginId: string): Promise<number | null | undefined> {
      return (await store.getLogin(loginId))?.revokedAt
    }

    describe('users', () => {
      it('creates a user and finds it by id and by normalized email', async () => {
        const user = await givenUser()
        assert.deepEqual(await store.getUserById(user.id), user)
        assert.deepEqual(await store.getUserByEmail(user.emailNormalized), user)
        assert.equal(await store.getUserById(randomUUID()), null)
        assert.equal(await store.getUserByEmail(`${randomUUID()}@example.com`), null)
      })

      it('refuses a second user with the same normalized email and writes nothing', async () => {
        const first = await givenUser()
        const second = aUser({
          email: first.email.toUpperCase(),
          emailNormalized: first.emailNormalized,
        })
        assert.equal(await store.createUser(second), null)
        assert.equal(await store.getUserById(second.id), null)
        assert.deepEqual(await store.getUserByEmail(first.emailNormalized), first)
      })

      it('hands out copies: changing a record outside the store changes nothing', async () => {
        const input = aUser()
        const created = await store.createUser(input)
        assert.ok(created)
        const expected = { ...input }
        input.email = created.email = 'changed@example.com'
        created.tokenVersion = 99
        const fetched = await store.getUserById(input.id)
        assert.ok(fetched)
        fetched.passwordHash = 'changed'
        assert.deepEqual(await store.getUserById(input.id), expected)

        const login = await givenLogin(input.id)
        const stored = plain(login)
        login.secretHash?.fill(0)
        const got = await store.getLogin(login.id)
        got?.secretHash?.fill(0)
        if (got !== null) got.revokedAt = T0
        assert.deepEqual(plain(await store.getLogin(login.id)), stored)
      })

      it('updatePasswordHash replaces the hash and nothing else', async () => {
        const user = await givenUser()
        const login = await givenLogin(user.id)
        await store.updatePasswordHash(user.id, 'rehashed', T0 + MINUTE)
        const expected = { ...user, passwordHash: 'rehashed', updatedAt: T0 + MINUTE }
        assert.deepEqual(await store.getUserById(user.id), expected)
        assert.equal(await revokedAt(login.id), null)
      })

      it('changePassword bumps the version and revokes only the other live logins', async () => {
        const user = await givenUser()
        const keep = await givenLogin(user.id)
        const others = [await givenLogin(user.id), await givenLogin(user.id, { kind: 'token' })]
        const earlier = await givenLogin(user.id, { revokedAt: T0 + 1 })
        const stranger = await givenLogin((await givenUser()).id)
        const now = T0 + MINUTE

        const result = await store.changePassword(user.id, 'new-hash', keep.id, now)
        assert.ok(result)
        assert.equal(result.tokenVersion, 2)
        assert.deepEqual(sorted(result.revokedLoginIds), sorted(others.map((login) => login.id)))
        const expected = { ...user, passwordHash: 'new-hash', tokenVersion: 2, updatedAt: now }
        assert.deepEqual(await store.getUserById(user.id), expected)
        assert.equal(await revokedAt(keep.id), null)
        for (const login of others) assert.equal(await revokedAt(login.id), now)
        assert.equal(await revokedAt(earlier.id), T0 + 1)
        assert.equal(await revokedAt(stranger.id), null)
      })

      it('changePassword with nothing to keep revokes every live login', async () => {
        const user = await givenUser()
        const logins = [await givenLogin(user.id), await givenLogin(user.id)]
        const result = await store.changePassword(user.id, 'new-hash', null, T0 + MINUTE)
        assert.equal(result?.tokenVersion, 2)
        assert.deepEqual(sorted(result.revokedLoginIds), sorted(logins.map((login) => login.id)))
        assert.equal(await store.changePassword(randomUUID(), 'new-hash', null, T0), null)
      })

      it('bumpTokenVersion counts up; an unknown user is null', async () => {
        const user = await givenUser()
        assert.equal(await store.bumpTokenVersion(user.id, T0 + 1), 2)
        assert.equal(await store.bumpTokenVersion(user.id, T0 + 2), 3)
        const expected = { ...user, tokenVersion: 3, updatedAt: T0 + 2 }
        assert.deepEqual(await store.getUserById(user.id), expected)
        assert.equal(await store.bumpTokenVersion(randomUUID(), T0), null)
      })

      it('20 concurrent sign-ups with one email: exactly one succeeds', async () => {
        const emailNormalized = `race.${randomUUID()}@example.com`
        const contenders = Array.from({ length: 20 }, () => aUser({ emailNormalized }))
        const results = await Promise.all(contenders.map((user) => store.createUser(user)))
        const winners = results.filter((result) => result !== null)
        assert.equal(winners.length, 1)
        assert.equal((await store.getUserByEmail(emailNormalized))?.id, winners[0]?.id)
        const stored = await Promise.all(contenders.map((user) => store.getUserById(user.id)))
        assert.equal(stored.filter((user) => user !== null).length, 1)
      })
    })

    describe('logins', () => {
      it('getLogin returns every field as created, hash bytes and nulls included', async () => {
        const user = await givenUser()
        const session = await givenLogin(user.id)
        const token = await givenLogin(user.id, {
          kind: 'token',
          secretHash: null,
          ip: null,
          userAgent: null,
          createdAt: T0 + 1,
        })
        const revoked = await givenLogin(user.id, { revokedAt: T0 + 2 })
        for (const login of [session, token, revoked]) {
          assert.deepEqual(plain(await store.getLogin(login.id)), plain(login))
        }
        assert.equal(await store.getLogin(randomUUID()), null)
      })

      it('createLogin rejects a login of an unknown user as a bug, not an outage', async () => {
        await assert.rejects(
          store.createLogin(aLogin(randomUUID())),
          (error) => !(error instanceof StoreUnavailableError),
        )
      })

      it('touchLogin records activity on a live login', async () => {
        const login = await givenLogin((await givenUser()).id)
        const now = T0 + 10 * MINUTE
        assert.equal(await store.touchLogin(login.id, now, now + 30 * MINUTE), true)
        const expected = { ...login, lastSeenAt: now, idleExpiresAt: now + 30 * MINUTE }
        assert.deepEqual(plain(await store.getLogin(login.id)), plain(expected))
      })

      it('touchLogin never brings back a revoked or expired login', async () => {
        const user = await givenUser()
        const revoked = await givenLogin(user.id)
        assert.equal(await store.revokeLogin(user.id, revoked.id, T0 + 1), true)
        const idle = await givenLogin(user.id, { idleExpiresAt: T0 + MINUTE })
        const ended = await givenLogin(user.id, { absoluteExpiresAt: T0 + MINUTE })
        const now = T0 + 2 * MINUTE
        for (const login of [revoked, idle, ended]) {
          const before = plain(await store.getLogin(login.id))
          assert.equal(await store.touchLogin(login.id, now, now + 30 * MINUTE), false)
          assert.deepEqual(plain(await store.getLogin(login.id)), before)
        }
        assert.equal(await revokedAt(revoked.id), T0 + 1)
        assert.equal(await store.touchLogin(randomUUID(), now, now + MINUTE), false)
      })

      it('revokeLogin revokes a live login of that user only, once', async () => {
        const alice = await givenUser()
        const bob = await givenUser()
        const login = await givenLogin(alice.id)
        assert.equal(await store.revokeLogin(bob.id, login.id, T0 + 1), false)
        assert.equal(await revokedAt(login.id), null)
        assert.equal(await store.revokeLogin(alice.id, login.id, T0 + 2), true)
        assert.equal(await revokedAt(login.id), T0 + 2)
        assert.equal(await store.revokeLogin(alice.id, login.id, T0 + 3), false)
        assert.equal(await revokedAt(login.id), T0 + 2)
        assert.equal(await store.revokeLogin(alice.id, randomUUID(), T0 + 4), false)
      })

      it('revokeUserLogins revokes every live login but the one kept', async () => {
        const user = await givenUser()
        const [a, b, c] = [
          await givenLogin(user.id),
          await givenLogin(user.id),
          await givenLogin(user.id),
        ]
        const stranger = await givenLogin((await givenUser()).id)
        const first = await store.revokeUserLogins(user.id, a.id, T0 + 1)
        assert.deepEqual(sorted(first), sorted([b.id, c.id]))
        assert.equal(await revokedAt(a.id), null)
        assert.deepEqual(await store.revokeUserLogins(user.id, null, T0 + 2), [a.id])
        assert.equal(await revokedAt(a.id), T0 + 2)
        assert.equal(await revokedAt(b.id), T0 + 1)
        assert.equal(await revokedAt(stranger.id), null)
        assert.deepEqual(await store.revokeUserLogins(user.id, null, T0 + 3), [])
      })

      it('listLiveLogins lists live logins newest first, without ended ones', async () => {
        const user = await givenUser()
        const now = T0 + HOUR
        const live = { idleExpiresAt: now + MINUTE }
        const old = await givenLogin(user.id, { ...live, createdAt: T0 })
        const newest = await givenLogin(user.id, { ...live, createdAt: T0 + 20 * MINUTE })
        const newer = await givenLogin(user.id, {
          ...live,
          createdAt: T0 + 10 * MINUTE,
          kind: 'token',
        })
        await givenLogin(user.id, { ...live, createdAt: T0 + 30 * MINUTE, revokedAt: T0 + 40 })
        await givenLogin(user.id, { createdAt: T0 + 31 * MINUTE, idleExpiresAt: now })
        await givenLogin(user.id, { ...live, createdAt: T0 + 32 * MINUTE, absoluteExpiresAt: now })
        await givenLogin((await givenUser()).id, { ...live, createdAt: T0 + 33 * MINUTE })

        const list = await store.listLiveLogins(user.id, now)
        assert.deepEqual(list.map(plain), [newest, newer, old].map(plain))
        assert.deepEqual(await store.listLiveLogins(randomUUID(), now), [])
      })
    })

    describe('rate limits', () => {
      it('counts hits in a fixed window that starts with the first hit', async () => {
        const key = `login:${randomUUID()}`
        assert.deepEqual(await store.hitRateLimit(key, MINUTE, T0), {
          count: 1,
          resetAt: T0 + MINUTE,
        })
        assert.deepEqual(await store.hitRateLimit(key, MINUTE, T0 + 1), {
          count: 2,
          resetAt: T0 + MINUTE,
        })
        const other = await store.hitRateLimit(`${key}:other`, MINUTE, T0 + 2)
        assert.deepEqual(other, { count: 1, resetAt: T0 + 2 + MINUTE })
        assert.deepEqual(await store.hitRateLimit(key, MINUTE, T0 + MINUTE - 1), {
          count: 3,
          resetAt: T0 + MINUTE,
        })
        const next = { count: 1, resetAt: T0 + 2 * MINUTE }
        assert.deepEqual(await store.hitRateLimit(key, MINUTE, T0 + MINUTE), next)
        assert.deepEqual(await store.hitRateLimit(key, MINUTE, T0 + MINUTE + 1), {
          ...next,
          count: 2,
        })
      })

      it('counts 50 concurrent hits on one key exactly once each', async () => {
        const key = `login:${randomUUID()}`
        const hits = await Promise.all(
          Array.from({ length: 50 }, () => store.hitRateLimit(key, MINUTE, T0)),
        )
        const counts = hits.map((hit) => hit.count).sort((a, b) => a - b)
        assert.deepEqual(
          counts,
          Array.from({ length: 50 }, (_, index) => index + 1),
        )
        assert.ok(hits.every((hit) => hit.resetAt === T0 + MINUTE))
        assert.equal((await store.hitRateLimit(key, MINUTE, T0 + 1)).count, 51)
      })
    })

    describe('housekeeping', () => {
      it('deleteExpired removes ended logins and counters, and nothing else', async () => {
        // Times far before every other test's, so a shared database loses nothing of theirs.
        const now = 1_000_000
        const at = { createdAt: 0, lastSeenAt: 0, absoluteExpiresAt: now + HOUR }
        const user = await givenUser({ createdAt: 0, updatedAt: 0 })
        const idle = await givenLogin(user.id, { ...at, idleExpiresAt: now })
        const ended = await givenLogin(user.id, {
          ...at,
          idleExpiresAt: now + 1,
          absoluteExpiresAt: now - 1,
        })
        const revoked = await givenLogin(user.id, { ...at, idleExpiresAt: now + 1, revokedAt: 1 })
        const live = await givenLogin(user.id, { ...at, idleExpiresAt: now + 1 })
        const key = `ip:${randomUUID()}`
        await store.hitRateLimit(`${key}:ended`, now / 2, now / 2)
        await store.hitRateLimit(`${key}:live`, now, now / 2)

        assert.ok((await store.deleteExpired(now)) >= 3)
        assert.equal(await store.getLogin(idle.id), null)
        assert.equal(await store.getLogin(ended.id), null)
        assert.notEqual(await store.getLogin(revoked.id), null)
        assert.notEqual(await store.getLogin(live.id), null)
        assert.notEqual(await store.getUserById(user.id), null)
        assert.equal((await store.hitRateLimit(`${key}:live`, now, now)).count, 2)
      })

      it('ping resolves while the store answers', async () => {
        await store.ping()
      })
    })

    tokenConformanceTests(() => store)
    refreshConformanceTests(() => store)
    revocationConformanceTests(() => store)
  })
}
