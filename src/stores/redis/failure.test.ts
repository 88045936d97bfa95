/*
 * The Redis layer when a service goes away: Redis stopped, Redis restarted empty, a
 * network blip that leaves Redis's data in place, and Postgres cut off behind a proxy.
 */
import assert from 'node:assert/strict'
import { MINUTE, T0, aLogin, aUser } from '../fixtures.js'
import { randomBytes, randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { StoreUnavailableError } from '../../errors.js'
import { serviceAvailable } from '../../../test/services/gate.js'
import { freshSchema, postgresUnreachable } from '../../../test/services/postgres.js'
import { tcpProxy } from '../../../test/services/proxy.js'
import type { Cuttable } from '../../../test/services/proxy.js'
import { privateRedis, redisUnreachable, redisUrl } from '../../../test/services/redis.js'
import type { PrivateRedis } from '../../../test/services/redis.js'
import type { LoginRecord, Store, UserRecord } from '../contract.js'
import { openPostgresStore } from '../sql/postgres.js'
import type { PostgresStore } from '../sql/postgres.js'
import { TOMBSTONE, cacheKeys, decodeLogin } from './codec.js'
import { connectRedis } from './connection.js'
import type { RedisClient } from './connection.js'
import { redisLayer } from './layer.js'
import { eventually } from '../../../test/services/eventually.js'

/** A connection as the layer would open it, with outages kept quiet. */
function connect(url: string): RedisClient {
  const redis = connectRedis(url)
  redis.on('error', () => {})
  return redis
}

const ready = (redis: RedisClient) => () => redis.status === 'ready'

async function givenLogin(store: Store): Promise<{ user: UserRecord; login: LoginRecord }> {
  const user = aUser()
  assert.ok(await store.createUser(user))
  const login = aLogin(user.id)
  await store.createLogin(login)
  return { user, login }
}

const unreachable = (await redisUnreachable()) ?? (await postgresUnreachable())
if (serviceAvailable('redis and postgres', unreachable)) {
  const schema = await freshSchema('redis_failure')
  let postgres: PostgresStore
  before(async () => {
    postgres = await openPostgresStore({ connectionString: schema.url, max: 5 })
  })
  after(async () => {
    await postgres.close()
    await schema.drop()
  })

  describe('redis layer: Redis goes away', () => {
    let server: PrivateRedis
    let redis: RedisClient
    let store: Store
    const keys = cacheKeys('latchkey:')
    before(async () => {
      server = await privateRedis()
      redis = connect(server.url)
      await eventually(ready(redis))
      store = redisLayer(postgres, { redis })
    })
    after(async () => {
      redis.disconnect()
      await server.stop()
    })

    it('answers every read from Postgres while Redis is down, then uses Redis again', async () => {
      const { user, login } = await givenLogin(store)
      const jti = randomUUID()
      await store.getLogin(login.id)
      await store.getUserById(user.id)
      assert.equal(await store.isTokenDenied(jti, T0), false)
      assert.notEqual(await redis.get(keys.login(login.id)), null, 'the copy is in Redis')
      await store.hitRateLimit(`ip:${jti}`, MINUTE, T0)

      await server.stop()
      await eventually(() => redis.status !== 'ready')
      assert.deepEqual(await store.getLogin(login.id), login)
      assert.deepEqual(await store.getUserById(user.id), user)
      assert.equal(await store.isTokenDenied(jti, T0), false)
      await store.denyToken(jti, T0 + MINUTE)
      assert.equal(await store.isTokenDenied(jti, T0), true)
      // Postgres's own counter takes over: a fresh window there.
      assert.deepEqual(await store.hitRateLimit(`ip:${jti}`, MINUTE, T0 + 1), {
        count: 1,
        resetAt: T0 + 1 + MINUTE,
      })
      await store.ping()

      await server.start()
      await eventually(ready(redis))
      assert.deepEqual(await store.getLogin(login.id), login)
      assert.notEqual(await redis.get(keys.login(login.id)), null, 'filled again')
    })

    it('a revocation while Redis is down holds after Redis restarts empty', async () => {
      const { user, login } = await givenLogin(store)
      await store.getLogin(login.id)
      await server.stop()
      await eventually(() => redis.status !== 'ready')
      assert.equal(await store.revokeLogin(user.id, login.id, T0 + 1), true)
      assert.equal((await store.getLogin(login.id))?.revokedAt, T0 + 1)

      await server.start()
      await eventually(ready(redis))
      assert.equal((await store.getLogin(login.id))?.revokedAt, T0 + 1)
      assert.equal((await store.getLogin(login.id))?.revokedAt, T0 + 1)
    })
  })

  describe('redis layer: a network blip, Redis keeps its data', () => {
    let server: PrivateRedis
    let proxy: Cuttable
    let direct: Redis
    let redis: RedisClient
    const prefix = 'latchkey:'
    const keys = cacheKeys(prefix)
    before(async () => {
      server = await privateRedis()
      proxy = await tcpProxy({ host: '127.0.0.1', port: server.port })
      direct = new Redis(server.url)
      redis = connect(`redis://${proxy.host}:${proxy.port}`)
      await eventually(ready(redis))
    })
    after(async () => {
      redis.disconnect()
      await direct.quit()
      await proxy.close()
      await server.stop()
    })

    it('never serves the stale copy that a failed tombstone left behind', async () => {
      const store = redisLayer(postgres, { redis, prefix })
      const { user, login } = await givenLogin(store)
      await store.getLogin(login.id)

      proxy.cut()
      await eventually(() => redis.status !== 'ready')
      assert.equal(await store.revokeLogin(user.id, login.id, T0 + 1), true)
      // Redis never heard of it: the live copy is still there.
      const stale = decodeLogin((await direct.get(keys.login(login.id))) ?? '')
      assert.equal(stale?.revokedAt, null)
      assert.equal((await store.getLogin(login.id))?.revokedAt, T0 + 1)

      proxy.restore()
      await eventually(ready(redis))
      assert.equal((await store.getLogin(login.id))?.revokedAt, T0 + 1)
      assert.equal(await direct.get(keys.login(login.id)), TOMBSTONE)
      // Another node on the same Redis now finds the tombstone too.
      const other = redisLayer(postgres, { redis: direct, prefix })
      assert.equal((await other.getLogin(login.id))?.revokedAt, T0 + 1)
    })

    it('writes every pending tombstone before trusting Redis with those keys again', async () => {
      const store = redisLayer(postgres, { redis, prefix })
      const { user, login } = await givenLogin(store)
      await store.getLogin(login.id)
      await store.getUserById(user.id)

      proxy.cut()
      await eventually(() => redis.status !== 'ready')
      assert.equal(await store.bumpTokenVersion(user.id, T0 + 1), 2)
      assert.equal(await store.revokeLogin(user.id, login.id, T0 + 2), true)

      proxy.restore()
      await eventually(ready(redis))
      // The first read sends the waiting tombstones; neither stale copy is ever served.
      assert.equal((await store.getLogin(login.id))?.revokedAt, T0 + 2)
      assert.equal((await store.getUserById(user.id))?.tokenVersion, 2)
      assert.equal(await direct.get(keys.user(user.id)), TOMBSTONE)
      assert.equal(await direct.get(keys.login(login.id)), TOMBSTONE)
    })
  })

  describe('redis layer: Postgres goes away', () => {
    let proxy: Cuttable
    let inner: PostgresStore
    let store: Store
    let redis: Redis
    const prefix = `latchkey:test:pgdown:${randomBytes(6).toString('hex')}:`
    before(async () => {
      const target = new URL(schema.url)
      proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
      const url = new URL(schema.url)
      url.host = `${proxy.host}:${proxy.port}`
      inner = await openPostgresStore({ connectionString: url.toString(), max: 5 })
      redis = new Redis(redisUrl)
      store = redisLayer(inner, { redis, prefix })
    })
    after(async () => {
      await inner.close()
      let cursor = '0'
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
        if (found.length > 0) await redis.del(...found)
        cursor = next
      } while (cursor !== '0')
      await redis.quit()
      await proxy.close()
    })

    it('answers cached reads, refuses the rest as unavailable, and recovers by itself', async () => {
      const { user, login } = await givenLogin(store)
      await store.getLogin(login.id)
      await store.getUserById(user.id)
      const acknowledged = aLogin(user.id)
      await store.createLogin(acknowledged)
      assert.equal(await store.revokeLogin(user.id, acknowledged.id, T0 + 1), true)

      proxy.cut()
      const unavailable = (error: unknown) => error instanceof StoreUnavailableError
      assert.deepEqual(await store.getLogin(login.id), login)
      assert.deepEqual(await store.getUserById(user.id), user)
      await assert.rejects(store.getLogin(randomUUID()), unavailable)
      await assert.rejects(store.getUserByEmail(user.emailNormalized), unavailable)
      await assert.rejects(store.isTokenDenied(randomUUID(), T0), unavailable)
      await assert.rejects(store.createLogin(aLogin(user.id)), unavailable)
      await assert.rejects(store.touchLogin(login.id, T0 + 2, T0 + MINUTE), unavailable)
      await assert.rejects(store.denyToken(randomUUID(), T0 + MINUTE), unavailable)
      await assert.rejects(store.ping(), unavailable)
      // A write that may have landed leaves no copy behind to contradict it.
      assert.equal(await redis.get(cacheKeys(prefix).login(login.id)), TOMBSTONE)

      proxy.restore()
      await eventually(() =>
        store.ping().then(
          () => true,
          () => false,
        ),
      )
      const later = aLogin(user.id)
      await store.createLogin(later)
      assert.deepEqual(await store.getLogin(later.id), later)
      assert.deepEqual(await inner.getLogin(login.id), login)
      assert.equal((await inner.getLogin(acknowledged.id))?.revokedAt, T0 + 1)
    })
  })
}
