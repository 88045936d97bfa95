import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, it } from 'node:test'
import type { RevocationFact } from '../revocation/facts.js'
import type { Store, UserRecord } from './contract.js'

// Later than every other part of the suite, so a shared database's older rows stay out of
// the window; each check still looks only at the ids it created.
const T0 = 1_900_000_000_000
const MINUTE = 60_000

function aUser(updatedAt: number): UserRecord {
  const id = randomUUID()
  return {
    id,
    email: `late.${id}@example.com`,
    emailNormalized: `late.${id}@example.com`,
    passwordHash: `$argon2id$v=19$m=19456,t=2,p=1$${id}`,
    tokenVersion: 1,
    createdAt: updatedAt,
    updatedAt,
  }
}

/**
 * The revocation-fact part of the conformance suite (what a late subscriber rebuilds its
 * view from); registered inside `storeConformanceSuite`, which owns the store.
 */
export function revocationConformanceTests(store: () => Store): void {
  async function givenUser(updatedAt: number): Promise<UserRecord> {
    const user = aUser(updatedAt)
    assert.notEqual(await store().createUser(user), null)
    return user
  }

  async function givenLogin(userId: string): Promise<string> {
    const id = randomUUID()
    await store().createLogin({
      id,
      userId,
      kind: 'token',
      secretHash: null,
      createdAt: T0 - 10 * MINUTE,
      lastSeenAt: T0 - 10 * MINUTE,
      idleExpiresAt: T0 + 60 * MINUTE,
      absoluteExpiresAt: T0 + 60 * MINUTE,
      ip: null,
      userAgent: null,
      revokedAt: null,
    })
    return id
  }

  /** The facts listed at (since, now) that mention one of `ids`, as sorted JSON. */
  async function factsAbout(ids: string[], since: number, now: number): Promise<string[]> {
    const facts = await store().listRevocationFacts(since, now)
    const mentions = (fact: RevocationFact) =>
      Object.values(fact).some((value) => typeof value === 'string' && ids.includes(value))
    return facts
      .filter(mentions)
      .map((fact) => JSON.stringify(fact))
      .sort()
  }

  const json = (facts: RevocationFact[]) => facts.map((fact) => JSON.stringify(fact)).sort()

  describe('revocation facts', () => {
    it('lists logins revoked since the given time, and no live or older one', async () => {
      const user = await givenUser(T0 - 10 * MINUTE)
      const [old, recent, live] = [
        await givenLogin(user.id),
        await givenLogin(user.id),
        await givenLogin(user.id),
      ]
      assert.ok(old !== undefined && recent !== undefined && live !== undefined)
      await store().revokeLogin(user.id, old, T0 - 2 * MINUTE)
      await store().revokeLogin(user.id, recent, T0 - MINUTE)
      assert.deepEqual(
        await factsAbout([old, recent, live], T0 - MINUTE, T0),
        json([{ type: 'login', loginId: recent, userId: user.id }]),
      )
    })

    it('lists token denials that outlive now, with their expiry', async () => {
      const [ended, live] = [randomUUID(), randomUUID()]
      await store().denyToken(ended, T0)
      await store().denyToken(live, T0 + 1)
      assert.deepEqual(
        await factsAbout([ended, live], T0 + 5 * MINUTE, T0),
        json([{ type: 'token', jti: live, until: T0 + 1 }]),
      )
    })

    it('lists users changed since the given time with their current token version', async () => {
      const before = await givenUser(T0 - 2 * MINUTE)
      const bumped = await givenUser(T0 - 10 * MINUTE)
      assert.equal(await store().bumpTokenVersion(bumped.id, T0 - MINUTE), 2)
      const changed = await givenUser(T0 - 10 * MINUTE)
      const result = await store().changePassword(changed.id, 'new-hash', null, T0)
      assert.equal(result?.tokenVersion, 2)
      assert.deepEqual(
        await factsAbout([before.id, bumped.id, changed.id], T0 - MINUTE, T0),
        json([
          { type: 'user', userId: bumped.id, version: 2 },
          { type: 'user', userId: changed.id, version: 2 },
        ]),
      )
    })
  })
}
