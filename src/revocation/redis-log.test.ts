/*
 * The retained log's scripts against real Redis servers: a seed as large as a mass
 * revocation can leave in the window, written and read back whole; a seed cut by a
 * restart of Redis between its parts.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { serviceAvailable } from '../../test/services/gate.js'
import { privateRedis, redisUnreachable, redisUrl } from '../../test/services/redis.js'
import type { PrivateRedis } from '../../test/services/redis.js'
import type { RevocationFact } from './facts.js'
import { logKeys, readLog, seedLog } from './redis-log.js'

if (serviceAvailable('redis', await redisUnreachable())) {
  const fresh = () => logKeys(`latchkey:test:${randomBytes(6).toString('hex')}`)

  describe('redis log', () => {
    it('seeds and reads back 200 000 facts', async () => {
      // Their arguments once went spread into one call, past what a JavaScript call takes
      // (some 120 000 here): the seed threw before anything reached Redis.
      const redis = new Redis(redisUrl)
      const keys = fresh()
      const many: RevocationFact[] = Array.from({ length: 200_000 }, (_, index) => ({
        type: 'login',
        loginId: `l-${index}`,
        userId: 'u-1',
      }))
      try {
        assert.equal(await readLog(redis, keys, 0), null, 'no marker before the seed')
        await seedLog(redis, keys, many, { now: Date.now(), windowMs: 60_000 })
        const logged = await readLog(redis, keys, 0)
        assert.equal(logged?.length, many.length)
        assert.equal(new Set(logged.map((fact) => JSON.stringify(fact))).size, many.length)
      } finally {
        await redis.del(keys.log)
        redis.disconnect()
      }
    })
  })

  describe('redis log: its mark of completeness', () => {
    const fact: RevocationFact = { type: 'login', loginId: 'login-1', userId: 'user-1' }

    it('outlasts a window in which nothing was written', async () => {
      const redis = new Redis(redisUrl)
      const keys = fresh()
      try {
        // As an earlier version's writes left it: an expiry on the log.
        await redis.zadd(keys.log, 1, 'stale entry')
        await redis.pexpire(keys.log, 100)
        await seedLog(redis, keys, [fact], { now: Date.now(), windowMs: 50 })
        await new Promise((resolve) => setTimeout(resolve, 150))
        // Complete, its one fact older than the window but still there until a write trims it.
        assert.deepEqual(await readLog(redis, keys, Date.now() - 50), [])
        assert.deepEqual(await readLog(redis, keys, 0), [fact])
        assert.equal(await redis.pttl(keys.log), -1, 'the log never expires')
      } finally {
        await redis.del(keys.log)
        redis.disconnect()
      }
    })

    it('goes with the log: a log evicted or deleted vouches for nothing', async () => {
      // A mark kept apart from the log would outlive it, and vouch for an empty log.
      const redis = new Redis(redisUrl)
      const keys = fresh()
      try {
        await seedLog(redis, keys, [fact], { now: Date.now(), windowMs: 60_000 })
        assert.deepEqual(await readLog(redis, keys, 0), [fact])
        await redis.del(keys.log)
        assert.equal(await readLog(redis, keys, 0), null)
      } finally {
        await redis.del(keys.log)
        redis.disconnect()
      }
    })
  })

  describe('redis log (private server, restarted)', () => {
    let server: PrivateRedis
    before(async () => {
      server = await privateRedis()
    })
    after(() => server.stop())

    it('a seed that Redis restarts under between two parts writes no marker', async () => {
      const redis = new Redis(server.url)
      redis.on('error', () => {})
      // The second part reaches a Redis restarted empty: the log would hold the later
      // parts only, and a marker over it would vouch for facts it lacks.
      let scripts = 0
      const restartedAfterFirst = new Proxy(redis, {
        get(target, property) {
          if (property !== 'evalsha') return Reflect.get(target, property, target) as unknown
          return async (...args: Parameters<Redis['evalsha']>) => {
            if (++scripts === 2) {
              await server.stop()
              await server.start()
            }
            return target.evalsha(...args)
          }
        },
      })
      const keys = logKeys('latchkey:test:cut')
      const facts: RevocationFact[] = Array.from({ length: 12_000 }, (_, index) => ({
        type: 'token',
        jti: `j-${index}`,
        until: Date.now() + 60_000,
      }))
      try {
        await assert.rejects(
          seedLog(restartedAfterFirst, keys, facts, { now: Date.now(), windowMs: 60_000 }),
          /restarted/,
        )
        assert.equal(scripts, 2, 'no part after the one that found the restart')
        assert.equal(await readLog(redis, keys, 0), null, 'no marker')
        await seedLog(redis, keys, facts, { now: Date.now(), windowMs: 60_000 })
        assert.equal((await readLog(redis, keys, 0))?.length, facts.length, 'a later seed')
      } finally {
        redis.disconnect()
      }
    })
  })
}
