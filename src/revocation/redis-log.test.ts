/*
 * The retained log's scripts against the shared Redis: a seed as large as a mass
 * revocation can leave in the window, written and read back whole.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { serviceAvailable } from '../../test/services/gate.js'
import { redisUnreachable, redisUrl } from '../../test/services/redis.js'
import type { RevocationFact } from './facts.js'
import { logKeys, readLog, seedLog } from './redis-log.js'

if (serviceAvailable('redis', await redisUnreachable())) {
  describe('redis log', () => {
    it('seeds and reads back 200 000 facts', async () => {
      // Their arguments once went spread into one call, past what a JavaScript call takes
      // (some 120 000 here): the seed threw before anything reached Redis.
      const redis = new Redis(redisUrl)
      const keys = logKeys(`latchkey:test:${randomBytes(6).toString('hex')}`)
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
        await redis.del(keys.log, keys.ready)
        redis.disconnect()
      }
    })
  })
}
