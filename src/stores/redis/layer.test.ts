/*
 * The Redis layer against real servers: the whole store conformance suite over Postgres
 * and over SQLite, then what the layer itself promises (copies, tombstones, races).
 */
import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { serviceAvailable } from '../../../test/services/gate.js'
import { freshSchema, postgresUnreachable } from '../../../test/services/postgres.js'
import { dropKeys, redisUnreachable, redisUrl } from '../../../test/services/redis.js'
import { ConfigError } from '../../errors.js'
import { MINUTE, T0, aLogin, aUser } from '../fixtures.js'
import { storeConformanceSuite } from '../conformance.js'
import type { LoginRecord, Store } from '../contract.js'
import { memoryStore } from '../memory.js'
import { openPostgresStore } from '../sql/postgres.js'
import { openSqliteStore } from '../sql/sqlite.js'
import { TOMBSTONE, cacheKeys } from './codec.js'
import { redisLayer } from './layer.js'

/** A key prefix of its own, so suites share the Redis without seeing each other. */
const uniquePrefix = (label: string) => `latchkey:test:${label}:${randomBytes(6).toString('hex')}:`

/** The store with its reads counted, and `getLogin` able to wait on a gate. */
function observed(inner: Store) {
  const reads = { getLogin: 0, getUserById: 0, isTokenDenied: 0 }
  let gate: Promise<void> | undefined
  const store: Store = {
    ...inner,
    async getLogin(id) {
      reads.getLogin++
      const login = await inner.getLogin(id)
      if (gate !== undefined) await gate
      return login
    },
    getUserById(id) {
      reads.getUserById++
      return inner.getUserById(id)
    },
    isTokenDenied(jti, now) {
      reads.isTokenDenied++
      return inner.isTokenDenied(jti, now)
    },
  }
  return {
    store,
    reads,
    /** Holds every `getLogin` after it has read the store, until the returned release. */
    pause: (): (() => void) => {
      let release!: () => void
      gate = new Promise((resolve) => (release = resolve))
      return () => {
        gate = undefined
        release()
      }
    },
  }
}

if (serviceAvailable('redis', await redisUnreachable())) {
  const prefixes: string[] = []
  const prefix = (label: string) => {
    const value = uniquePrefix(label)
    prefixes.push(value)
    return value
  }
  after(async () => {
    for (const value of prefixes) await dropKeys(value)
  })

  if (serviceAvailable('postgres', await postgresUnreachable())) {
    storeConformanceSuite('postgres + redis', async () => {
      const schema = await freshSchema('redis_layer')
      const inner = await openPostgresStore({ connectionString: schema.url, max: 20 })
      const store = redisLayer(inner, { redis: redisUrl, prefix: prefix('pg') })
      return {
        store,
        close: async () => {
          await store.close()
          await schema.drop()
        },
      }
    })
  }

  const dir = mkdtempSync(join(tmpdir(), 'latchkey-redis-layer-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  storeConformanceSuite('sqlite + redis', async () => {
    const inner = await openSqliteStore({ filename: join(dir, 'conformance.db') })
    const store = redisLayer(inner, { redis: redisUrl, prefix: prefix('sqlite') })
    return { store, close: () => store.close() }
  })

  describe('redis layer', () => {
    let redis: Redis
    before(() => {
      redis = new Redis(redisUrl)
    })
    after(() => redis.quit())

    function layered(inner = memoryStore()) {
      const seen = observed(inner)
      const name = prefix('layer')
      const store = redisLayer(seen.store, { redis, prefix: name })
      return { ...seen, store, keys: cacheKeys(name) }
    }

    it('answers a repeated read from its copy, hash bytes and nulls intact', async () => {
      const { store, reads } = layered()
      const user = aUser()
      await store.createUser(user)
      const login = aLogin(user.id)
      await store.createLogin(login)
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(await store.getLogin(login.id), login)
        assert.deepEqual(await store.getUserById(user.id), user)
      }
      assert.deepEqual(reads, { getLogin: 1, getUserById: 1, isTokenDenied: 0 })
    })

    it('does not remember a record that does not exist yet', async () => {
      const { store } = layered()
      const user = aUser()
      assert.equal(await store.getUserById(user.id), null)
      await store.createUser(user)
      assert.deepEqual(await store.getUserById(user.id), user)
    })

    it('a write tombstones the copy; reads then go to the store and fill nothing', async () => {
      const { store, reads, keys } = layered()
      const user = aUser()
      await store.createUser(user)
      const login = aLogin(user.id)
      await store.createLogin(login)
      await store.getLogin(login.id)
      assert.equal(await store.revokeLogin(user.id, login.id, T0 + 1), true)
      assert.equal(await redis.get(keys.login(login.id)), TOMBSTONE)
      assert.ok(0 < (await redis.pttl(keys.login(login.id))))
      assert.equal((await store.getLogin(login.id))?.revokedAt, T0 + 1)
      assert.equal((await store.getLogin(login.id))?.revokedAt, T0 + 1)
      assert.equal(reads.getLogin, 3)
      assert.equal(await redis.get(keys.login(login.id)), TOMBSTONE)
    })

    it('every write that changes a cached record leaves a tombstone', async () => {
      const { store, keys } = layered()
      const user = aUser()
      await store.createUser(user)
      const tokenLogin = aLogin(user.id, { kind: 'token', secretHash: null })
      const logins = [aLogin(user.id), aLogin(user.id), tokenLogin]
      for (const login of logins) await store.createLogin(login)
      const [touched, kept, family] = logins as [LoginRecord, LoginRecord, LoginRecord]
      const warm = async () => {
        await store.getUserById(user.id)
        for (const login of logins) await store.getLogin(login.id)
        for (const key of [keys.user(user.id), ...logins.map((login) => keys.login(login.id))]) {
          await redis.del(key)
        }
        await store.getUserById(user.id)
        for (const login of logins) await store.getLogin(login.id)
      }
      const buried = async (key: string) => (await redis.get(key)) === TOMBSTONE

      await warm()
      assert.equal(await store.touchLogin(touched.id, T0 + 1, T0 + 40 * MINUTE), true)
      assert.ok(await buried(keys.login(touched.id)))
      assert.ok(!(await buried(keys.login(kept.id))))

      await warm()
      await store.updatePasswordHash(user.id, 'rehashed', T0 + 2)
      assert.ok(await buried(keys.user(user.id)))

      await warm()
      assert.equal(await store.bumpTokenVersion(user.id, T0 + 3), 2)
      assert.ok(await buried(keys.user(user.id)))

      await warm()
      const parent = {
        id: randomUUID(),
        familyId: family.id,
        userId: user.id,
        secretHash: new Uint8Array(32),
        createdAt: T0,
        spentAt: null,
        childId: null,
      }
      await store.createRefreshToken(parent)
      const rotate = (from: { id: string; secretHash: Uint8Array }, now: number) => {
        const child = { id: randomUUID(), secretHash: new Uint8Array(32).fill(now % 256) }
        const rotation = { parentId: from.id, secretHash: from.secretHash, child, now }
        // The family was last seen at T0: renewed if the rotation asks from T0 + 1 on.
        const rotated = store.rotateRefreshToken({
          ...rotation,
          idleMs: 50 * MINUTE,
          renewIfSeenBefore: T0 + 1,
        })
        return { child, rotated }
      }
      const first = rotate(parent, T0 + 4)
      assert.equal((await first.rotated)?.login?.id, family.id)
      assert.ok(await buried(keys.login(family.id)))
      assert.equal((await store.getLogin(family.id))?.lastSeenAt, T0 + 4)
      // Seen since: the rotation writes no activity, and the copy stays.
      await warm()
      const second = rotate(first.child, T0 + 5)
      assert.equal((await second.rotated)?.renewed, false)
      assert.ok(!(await buried(keys.login(family.id))))
      assert.equal((await store.getLogin(family.id))?.lastSeenAt, T0 + 4)

      await warm()
      const result = await store.changePassword(user.id, 'new', kept.id, T0 + 5)
      assert.deepEqual(result?.revokedLoginIds.sort(), [touched.id, family.id].sort())
      assert.ok(await buried(keys.user(user.id)))
      assert.ok(await buried(keys.login(touched.id)))
      assert.ok(await buried(keys.login(family.id)))
      assert.ok(!(await buried(keys.login(kept.id))))

      await warm()
      assert.deepEqual(await store.revokeUserLogins(user.id, null, T0 + 6), [kept.id])
      assert.ok(await buried(keys.login(kept.id)))
      assert.equal((await store.getLogin(kept.id))?.revokedAt, T0 + 6)
    })

    it('a cached "not denied" holds from its time on, and a denial replaces it', async () => {
      const { store, reads } = layered()
      const jti = randomUUID()
      assert.equal(await store.isTokenDenied(jti, T0), false)
      assert.equal(await store.isTokenDenied(jti, T0 + MINUTE), false)
      assert.equal(reads.isTokenDenied, 1)
      // Earlier than the cached answer: only the store knows.
      assert.equal(await store.isTokenDenied(jti, T0 - 1), false)
      assert.equal(reads.isTokenDenied, 2)
      await store.denyToken(jti, T0 + 2 * MINUTE)
      assert.equal(await store.isTokenDenied(jti, T0 + MINUTE), true)
      assert.equal(await store.isTokenDenied(jti, T0 + 2 * MINUTE), false)
    })

    it('a fill that read the store before a revocation cannot bring the login back', async () => {
      const { store, keys, pause } = layered()
      const user = aUser()
      await store.createUser(user)
      const login = aLogin(user.id)
      await store.createLogin(login)

      const release = pause()
      const stale = store.getLogin(login.id)
      // Let the read reach the store and wait, holding the live record.
      await new Promise((resolve) => setTimeout(resolve, 20))
      assert.equal(await store.revokeLogin(user.id, login.id, T0 + 1), true)
      release()
      assert.equal((await stale)?.revokedAt, null, 'the racing read itself saw the old state')

      assert.equal(await redis.get(keys.login(login.id)), TOMBSTONE)
      assert.equal((await store.getLogin(login.id))?.revokedAt, T0 + 1)
    })

    it('counts rate-limit hits in Redis, shared by every node', async () => {
      const name = prefix('rate')
      const a = redisLayer(memoryStore(), { redis, prefix: name })
      const b = redisLayer(memoryStore(), { redis, prefix: name })
      const key = `login:${randomUUID()}`
      assert.deepEqual(await a.hitRateLimit(key, MINUTE, T0), { count: 1, resetAt: T0 + MINUTE })
      assert.deepEqual(await b.hitRateLimit(key, MINUTE, T0 + 5), {
        count: 2,
        resetAt: T0 + MINUTE,
      })
      const ttl = await redis.pttl(cacheKeys(name).rateLimit(key))
      assert.ok(ttl > 0 && ttl <= MINUTE, 'the counter goes away with its window')
    })

    it('passes through operations it does not know', async () => {
      const inner = { ...memoryStore(), listSomething: () => Promise.resolve(['x']) }
      const store = redisLayer(inner, { redis, prefix: prefix('pass') }) as typeof inner
      assert.deepEqual(await store.listSomething(), ['x'])
    })

    it('refuses a TTL that is not a positive whole number of ms at once', () => {
      for (const ttlMs of [0, -1, 1.5, Number.NaN]) {
        assert.throws(() => redisLayer(memoryStore(), { redis, ttlMs }), ConfigError)
      }
    })

    it('closes a connection it opened, and leaves one it was given', async () => {
      const given = new Redis(redisUrl)
      try {
        await redisLayer(memoryStore(), { redis: given }).close()
        assert.equal(await given.ping(), 'PONG')
      } finally {
        await given.quit()
      }
      let closed = false
      const store = redisLayer(
        { ...memoryStore(), close: () => Promise.resolve(void (closed = true)) },
        { redis: redisUrl },
      )
      await store.close()
      assert.ok(closed)
    })
  })
}
