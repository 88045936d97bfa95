/*
 * The Redis bus against real servers: delivery between nodes through the feed, loss and
 * return of a private redis-server, garbage on the channel, and the retained log.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { dropKeys, privateRedis, redisUnreachable, redisUrl } from '../../test/services/redis.js'
import type { PrivateRedis } from '../../test/services/redis.js'
import { serviceAvailable } from '../../test/services/gate.js'
import type { RevocationFact } from './facts.js'
import { createBusFeed } from './feed.js'
import { eventually } from '../../test/services/eventually.js'
import { listen } from '../../test/revocation/listen.js'
import { redisBus } from './redis-bus.js'

const quiet = { warn: () => {} }
const FAST = { probeIntervalMs: 50, probeTimeoutMs: 200, logger: quiet }

const channel = () => `latchkey:test:${randomBytes(6).toString('hex')}`

if (serviceAvailable('redis', await redisUnreachable())) {
  describe('redis bus (shared server)', () => {
    it('two nodes on one channel hear each other within milliseconds', async () => {
      const name = channel()
      const a = createBusFeed(redisBus({ url: redisUrl, channel: name }), FAST)
      const b = createBusFeed(redisBus({ url: redisUrl, channel: name }), FAST)
      try {
        const atB = listen(b)
        await eventually(() => a.trusted && b.trusted, 5000, 'both feeds trusted')
        const started = Date.now()
        const fact: RevocationFact = { type: 'login', loginId: 'l-1', userId: 'u-1' }
        await a.publish([fact])
        await eventually(() => atB.heard.length === 1, 1000, 'the fact at b')
        assert.deepEqual(atB.heard, [[fact]])
        assert.ok(Date.now() - started < 500)
      } finally {
        await Promise.all([a.close(), b.close()])
        await dropKeys(name)
      }
    })

    it('closing a feed is not reported as a lost bus', async () => {
      const warnings: string[] = []
      const feed = createBusFeed(redisBus({ url: redisUrl, channel: channel() }), {
        ...FAST,
        logger: { warn: (message) => warnings.push(message) },
      })
      await eventually(() => feed.trusted, 5000, 'the feed trusted')
      await feed.close()
      // The subscriber's connection reports its end after close() has returned.
      await new Promise((resolve) => setTimeout(resolve, 100))
      assert.deepEqual(warnings, [])
    })

    it('ignores a garbage payload on the channel', async () => {
      const name = channel()
      const feed = createBusFeed(redisBus({ url: redisUrl, channel: name }), FAST)
      const raw = new Redis(redisUrl)
      try {
        const heard = listen(feed)
        await eventually(() => feed.trusted, 5000, 'trusted')
        for (const junk of ['not json', '{"v":2}', '{"v":1,"origin":"x","facts":[{"type":"?"}]}']) {
          await raw.publish(name, junk)
        }
        await raw.publish(
          name,
          JSON.stringify({ v: 1, origin: 'other', facts: [{ type: 'key', kid: 'k' }] }),
        )
        await eventually(() => heard.heard.length === 1, 1000, 'the valid message')
        assert.deepEqual(heard.heard, [[{ type: 'key', kid: 'k' }]])
        assert.equal(feed.trusted, true)
      } finally {
        raw.disconnect()
        await feed.close()
      }
    })

    it('logs published facts; the log is trusted only once a server seeded it', async () => {
      const name = channel()
      const bus = redisBus({ url: redisUrl, channel: name })
      const feed = createBusFeed(bus, FAST)
      try {
        await eventually(() => feed.trusted, 5000, 'trusted')
        const live: RevocationFact = { type: 'token', jti: 'j-1', until: Date.now() + 60_000 }
        await feed.publish([live])
        assert.equal(await bus.readLog(0), null, 'no marker before retain')
        const seeded: RevocationFact = { type: 'user', userId: 'u-9', version: 3 }
        bus.retain({ windowMs: 60_000, load: () => Promise.resolve([seeded]) })
        let logged: RevocationFact[] | null = null
        await eventually(() => {
          void bus.readLog(0).then((facts) => (logged = facts))
          return logged !== null
        })
        assert.deepEqual(
          new Set((logged ?? []).map((fact) => JSON.stringify(fact))),
          new Set([live, seeded].map((fact) => JSON.stringify(fact))),
        )
      } finally {
        await feed.close()
        await dropKeys(name)
      }
    })

    it('a publish made while the first connection is being made waits for it', async () => {
      // What a starting node does: it publishes its new signing key at once.
      const name = channel()
      const bus = redisBus({ url: redisUrl, channel: name })
      try {
        await bus.publish(
          JSON.stringify({ v: 1, origin: 'o', facts: [{ type: 'key', kid: 'k-start' }] }),
        )
      } finally {
        await bus.close()
        await dropKeys(name)
      }
    })

    it('publishing while Redis is unreachable rejects quickly', async () => {
      const bus = redisBus({ url: 'redis://127.0.0.1:1', channel: channel() })
      try {
        const started = Date.now()
        await assert.rejects(bus.publish('{"v":1,"origin":"o","probe":"p"}'))
        assert.ok(Date.now() - started < 500)
      } finally {
        await bus.close()
      }
    })
  })

  describe('redis bus (private server, stopped and restarted)', () => {
    let server: PrivateRedis
    before(async () => {
      server = await privateRedis()
    })
    after(() => server.stop())

    it('a lost Redis makes the feed untrusted and flushes; it comes back by itself', async () => {
      const name = channel()
      const a = createBusFeed(redisBus({ url: server.url, channel: name }), FAST)
      const b = createBusFeed(redisBus({ url: server.url, channel: name }), FAST)
      try {
        const atA = listen(a)
        const atB = listen(b)
        await eventually(() => a.trusted && b.trusted, 5000, 'both trusted')
        await server.stop()
        await eventually(() => !a.trusted && !b.trusted, 2000, 'both untrusted')
        assert.ok(atA.flushes() >= 1 && atB.flushes() >= 1)
        await server.start()
        await eventually(() => a.trusted && b.trusted, 10_000, 'both trusted again')
        const fact: RevocationFact = { type: 'user', userId: 'u-2', version: 5 }
        await a.publish([fact])
        await eventually(() => atB.heard.length === 1, 1000, 'the fact after the restart')
        assert.deepEqual(atB.heard, [[fact]])
      } finally {
        await Promise.all([a.close(), b.close()])
      }
    })

    it('reports up only once subscribed: a message sent at that moment arrives', async () => {
      const name = channel()
      const bus = redisBus({ url: server.url, channel: name })
      const raw = new Redis(server.url, { retryStrategy: () => 20 })
      raw.on('error', () => {})
      const received: string[] = []
      let ups = 0
      bus.start({
        message: (payload) => received.push(payload),
        connection(up) {
          if (!up) return
          ups++
          void raw.publish(name, `up-${ups}`)
        },
      })
      try {
        await eventually(() => received.includes('up-1'), 5000, 'the message sent at up')
        await server.stop()
        await server.start()
        await eventually(() => received.includes('up-2'), 10_000, 'the one after the restart')
      } finally {
        raw.disconnect()
        await bus.close()
      }
    })

    it('a restarted (empty) Redis has no marker until the server node seeds it again', async () => {
      const name = channel()
      const bus = redisBus({ url: server.url, channel: name })
      const feed = createBusFeed(bus, FAST)
      let loads = 0
      bus.retain({
        windowMs: 60_000,
        load: () => {
          loads++
          return Promise.resolve([{ type: 'login', loginId: 'l-7', userId: 'u-7' }])
        },
      })
      try {
        await eventually(() => feed.trusted && loads === 1, 5000, 'seeded once')
        assert.notEqual(await readUntilReady(bus), null)
        await server.stop()
        await server.start()
        await eventually(() => loads === 2, 10_000, 'seeded again after the restart')
        assert.deepEqual(await readUntilReady(bus), [
          { type: 'login', loginId: 'l-7', userId: 'u-7' },
        ])
      } finally {
        await feed.close()
      }
    })
  })
}

async function readUntilReady(bus: ReturnType<typeof redisBus>) {
  for (let attempt = 0; attempt < 100; attempt++) {
    const facts = await bus.readLog(0).catch(() => null)
    if (facts !== null) return facts
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return null
}
