/*
 * The Redis pieces against a real Redis Cluster of three masters spawned here: the store
 * conformance suite through the layer, the layer's own keys on the Cluster, and the
 * revocation bus (delivery, loss of the subscriber's node, the retained log).
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Cluster, Redis } from 'ioredis'
import { eventually } from '../../../test/services/eventually.js'
import { serviceAvailable } from '../../../test/services/gate.js'
import {
  privateRedisCluster,
  redisClusterUnavailable,
} from '../../../test/services/redis-cluster.js'
import type { PrivateRedisCluster } from '../../../test/services/redis-cluster.js'
import { listen } from '../../../test/revocation/listen.js'
import type { RevocationFact } from '../../revocation/facts.js'
import { encodeMessage } from '../../revocation/facts.js'
import { createBusFeed } from '../../revocation/feed.js'
import { redisBus } from '../../revocation/redis-bus.js'
import { MINUTE, T0, aLogin, aUser } from '../fixtures.js'
import { storeConformanceSuite } from '../conformance.js'
import type { Store } from '../contract.js'
import { memoryStore } from '../memory.js'
import { openSqliteStore } from '../sql/sqlite.js'
import { TOMBSTONE, cacheKeys } from './codec.js'
import { connectRedis } from './connection.js'
import { redisLayer } from './layer.js'

const quiet = { warn: () => {} }
const FAST = { probeIntervalMs: 50, probeTimeoutMs: 200, logger: quiet }

const unique = (label: string) => `latchkey:test:${label}:${randomBytes(6).toString('hex')}`

/** A Cluster client that is ready, so that no command falls back to the store unseen. */
async function readyCluster(url: string): Promise<Cluster> {
  const client = connectRedis(url)
  assert.ok(client instanceof Cluster, 'several URLs make a Cluster client')
  client.on('error', () => {})
  if (client.status !== 'ready') {
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve)
      setTimeout(() => reject(new Error('the Cluster client did not get ready')), 5000).unref()
    })
  }
  return client
}

/** The keys under `prefix` on each master, by port. */
async function keysByNode(ports: readonly number[], prefix: string): Promise<string[][]> {
  return Promise.all(
    ports.map(async (port) => {
      const node = new Redis({ host: '127.0.0.1', port, lazyConnect: true })
      try {
        const found: string[] = []
        let cursor = '0'
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
          found.push(...keys)
          cursor = next
        } while (cursor !== '0')
        return found
      } finally {
        node.disconnect()
      }
    }),
  )
}

/** The store with its `getLogin` reads counted. */
function counted(inner: Store) {
  const reads = { getLogin: 0 }
  const store: Store = {
    ...inner,
    getLogin(id) {
      reads.getLogin++
      return inner.getLogin(id)
    },
  }
  return { store, reads }
}

if (serviceAvailable('redis cluster', await redisClusterUnavailable())) {
  const cluster = await privateRedisCluster()
  after(() => cluster.close())

  const dir = mkdtempSync(join(tmpdir(), 'latchkey-redis-cluster-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const conformancePrefix = `${unique('conformance')}:`
  storeConformanceSuite('sqlite + redis cluster', async () => {
    const redis = await readyCluster(cluster.url)
    const inner = await openSqliteStore({ filename: join(dir, 'conformance.db') })
    const store = redisLayer(inner, { redis, prefix: conformancePrefix })
    return {
      store,
      close: async () => {
        try {
          await store.close()
        } finally {
          redis.disconnect()
        }
      },
    }
  })

  describe('redis layer on a cluster', () => {
    it('the conformance run kept its copies in Redis, on every master', async () => {
      const found = await keysByNode(cluster.ports, conformancePrefix)
      assert.ok(
        found.every((keys) => keys.length > 0),
        `keys per master: ${found.map((keys) => keys.length).join(', ')}`,
      )
    })

    it('answers repeated reads from its copy and tombstones it on a write', async () => {
      const redis = await readyCluster(cluster.url)
      try {
        const prefix = `${unique('copies')}:`
        const { store, reads } = counted(memoryStore())
        const layered = redisLayer(store, { redis, prefix })
        const keys = cacheKeys(prefix)
        const user = aUser()
        await layered.createUser(user)
        const logins = Array.from({ length: 12 }, () => aLogin(user.id))
        for (const login of logins) await layered.createLogin(login)
        for (let i = 0; i < 2; i++) {
          for (const login of logins) assert.deepEqual(await layered.getLogin(login.id), login)
        }
        assert.equal(reads.getLogin, logins.length, 'the second round came from Redis')
        const [first] = logins
        assert.ok(first !== undefined)
        assert.equal(await layered.revokeLogin(user.id, first.id, T0 + 1), true)
        assert.equal(await redis.get(keys.login(first.id)), TOMBSTONE)
        assert.equal((await layered.getLogin(first.id))?.revokedAt, T0 + 1)
      } finally {
        redis.disconnect()
      }
    })

    it('counts rate limits in the cluster, shared by layers over different stores', async () => {
      const redis = await readyCluster(cluster.url)
      try {
        const prefix = `${unique('rate')}:`
        const a = redisLayer(memoryStore(), { redis, prefix })
        const b = redisLayer(memoryStore(), { redis, prefix })
        for (let i = 0; i < 20; i++) {
          const key = `login:${i}`
          assert.deepEqual(await a.hitRateLimit(key, MINUTE, T0), {
            count: 1,
            resetAt: T0 + MINUTE,
          })
          assert.deepEqual(await b.hitRateLimit(key, MINUTE, T0 + 1), {
            count: 2,
            resetAt: T0 + MINUTE,
          })
        }
      } finally {
        redis.disconnect()
      }
    })

    it('deleteExpired removes ended counters from every master, and only those', async () => {
      const redis = await readyCluster(cluster.url)
      try {
        const prefix = `${unique('expired')}:`
        const store = redisLayer(memoryStore(), { redis, prefix })
        const ended = Array.from({ length: 30 }, (_, i) => `ended:${i}`)
        const live = Array.from({ length: 30 }, (_, i) => `live:${i}`)
        for (const key of ended) await store.hitRateLimit(key, MINUTE, T0)
        for (const key of live) await store.hitRateLimit(key, 10 * MINUTE, T0)
        const before = await keysByNode(cluster.ports, prefix)
        assert.ok(
          before.every((keys) => keys.length > 0),
          `counters per master: ${before.map((keys) => keys.length).join(', ')}`,
        )
        assert.equal(await store.deleteExpired(T0 + MINUTE), ended.length)
        const left = (await keysByNode(cluster.ports, prefix)).flat()
        assert.deepEqual(left.sort(), live.map((key) => cacheKeys(prefix).rateLimit(key)).sort())
        assert.equal((await store.hitRateLimit('live:0', 10 * MINUTE, T0 + 1)).count, 2)
      } finally {
        redis.disconnect()
      }
    })
  })

  describe('redis bus on a cluster', () => {
    it('two nodes on one channel hear each other', async () => {
      const name = unique('bus')
      const a = createBusFeed(redisBus({ url: cluster.url, channel: name, logger: quiet }), FAST)
      const b = createBusFeed(redisBus({ url: cluster.url, channel: name, logger: quiet }), FAST)
      try {
        const atA = listen(a)
        const atB = listen(b)
        await eventually(() => a.trusted && b.trusted, 5000, 'both feeds trusted')
        const toB: RevocationFact = { type: 'login', loginId: 'l-1', userId: 'u-1' }
        const toA: RevocationFact = { type: 'user', userId: 'u-2', version: 3 }
        await a.publish([toB])
        await b.publish([toA])
        await eventually(() => atB.heard.length === 1 && atA.heard.length === 1, 2000, 'facts')
        assert.deepEqual(atB.heard, [[toB]])
        assert.deepEqual(atA.heard, [[toA]])
      } finally {
        await Promise.all([a.close(), b.close()])
      }
    })

    it('keeps a retained log on the cluster, trusted once seeded', async () => {
      const name = unique('log')
      const bus = redisBus({ url: cluster.url, channel: name, logger: quiet })
      const feed = createBusFeed(bus, FAST)
      try {
        await eventually(() => feed.trusted, 5000, 'trusted')
        const live: RevocationFact = { type: 'token', jti: 'j-1', until: Date.now() + 60_000 }
        await feed.publish([live])
        assert.equal(await bus.readLog(0), null, 'no marker before retain')
        const seeded: RevocationFact = { type: 'user', userId: 'u-9', version: 3 }
        bus.retain({ windowMs: 60_000, load: () => Promise.resolve([seeded]) })
        const logged = await readUntilReady(bus)
        assert.deepEqual(
          new Set((logged ?? []).map((fact) => JSON.stringify(fact))),
          new Set([live, seeded].map((fact) => JSON.stringify(fact))),
        )
        const later: RevocationFact = { type: 'key', kid: 'k-2' }
        const since = Date.now()
        await feed.publish([later])
        assert.deepEqual(await bus.readLog(since), [later])
      } finally {
        await feed.close()
      }
    })

    it('seeds the log again when the master that holds it restarts empty', async () => {
      const name = unique('reseed')
      const bus = redisBus({ url: cluster.url, channel: name, logger: quiet })
      const feed = createBusFeed(bus, FAST)
      const seeded: RevocationFact = { type: 'login', loginId: 'l-7', userId: 'u-7' }
      bus.retain({ windowMs: 60_000, load: () => Promise.resolve([seeded]) })
      const owner = await cluster.nodeOf(`{${name}}:log`)
      let stopped = false
      try {
        await eventually(() => feed.trusted, 5000, 'trusted')
        assert.deepEqual(await readUntilReady(bus), [seeded])
        await cluster.stopNode(owner)
        stopped = true
        await cluster.startNode(owner)
        stopped = false
        assert.deepEqual(await readUntilReady(bus, 5000), [seeded], 'the log after the restart')
      } finally {
        await feed.close()
        if (stopped) await cluster.startNode(owner)
      }
    })

    it('losing the subscriber’s node flushes; the feed is trusted again by itself', async () => {
      const name = unique('loss')
      // The subscriber of each bus starts on the first seed node.
      const a = createBusFeed(redisBus({ url: cluster.url, channel: name, logger: quiet }), FAST)
      const b = createBusFeed(redisBus({ url: cluster.url, channel: name, logger: quiet }), FAST)
      let stopped = false
      try {
        const atA = listen(a)
        const atB = listen(b)
        await eventually(() => a.trusted && b.trusted, 5000, 'both trusted')
        await cluster.stopNode(0)
        stopped = true
        await eventually(() => !a.trusted && !b.trusted, 2000, 'both untrusted')
        assert.ok(atA.flushes() >= 1 && atB.flushes() >= 1)
        await cluster.startNode(0)
        stopped = false
        await eventually(() => a.trusted && b.trusted, 5000, 'both trusted after the restart')
        const toB: RevocationFact = { type: 'login', loginId: 'l-3', userId: 'u-3' }
        const toA: RevocationFact = { type: 'user', userId: 'u-4', version: 2 }
        await a.publish([toB])
        await b.publish([toA])
        await eventually(() => atB.heard.length === 1 && atA.heard.length === 1, 2000, 'facts')
        assert.deepEqual(atB.heard, [[toB]])
        assert.deepEqual(atA.heard, [[toA]])
      } finally {
        await Promise.all([a.close(), b.close()])
        if (stopped) await cluster.startNode(0)
      }
    })

    it('no feed stays trusted while a fact cannot get through the log’s master', async () => {
      // A channel whose log lives away from the first seed node, where the subscribers are.
      let name = unique('path')
      while ((await cluster.nodeOf(`{${name}}:log`)) === 0) name = unique('path')
      const owner = await cluster.nodeOf(`{${name}}:log`)
      const a = createBusFeed(redisBus({ url: cluster.url, channel: name, logger: quiet }), FAST)
      const b = createBusFeed(redisBus({ url: cluster.url, channel: name, logger: quiet }), FAST)
      let stopped = false
      try {
        const atB = listen(b)
        await eventually(() => a.trusted && b.trusted, 5000, 'both trusted')
        await cluster.stopNode(owner)
        stopped = true
        const fact: RevocationFact = { type: 'login', loginId: 'l-5', userId: 'u-5' }
        const started = Date.now()
        await a.publish([fact])
        // The revoking response waits for this first attempt: it fails at once (the bus
        // retries in the background) instead of after ioredis's 16 retries 100 ms apart.
        assert.ok(Date.now() - started < 500, `the publish took ${Date.now() - started} ms`)
        // Past one probe interval and timeout, b has either heard the fact or stopped
        // answering from its caches.
        await new Promise((resolve) => setTimeout(resolve, 400))
        const until = Date.now() + 1000
        while (Date.now() < until) {
          assert.ok(!b.trusted || atB.heard.length > 0, 'b trusted without the fact')
          await new Promise((resolve) => setTimeout(resolve, 10))
        }
        await cluster.startNode(owner)
        stopped = false
        // The cluster agreeing that the master is back and the feed's next retry (every
        // 2 s) take a few seconds.
        await eventually(() => atB.heard.length === 1, 8000, 'the fact once the master is back')
        assert.deepEqual(atB.heard, [[fact]])
        await eventually(() => a.trusted && b.trusted, 5000, 'both trusted again')
      } finally {
        await Promise.all([a.close(), b.close()])
        if (stopped) await cluster.startNode(owner)
      }
    })

    it('acknowledges no fact while the log’s master is down, however many are sent at once', async () => {
      // Sent as a MULTI, publishes made at once just after the master died could resolve as
      // sent, though nothing of them had run: ioredis's retry of a MULTI whose connection
      // closed let replies answer the wrong commands.
      const name = unique('down')
      const owner = await cluster.nodeOf(`{${name}}:log`)
      const bus = redisBus({ url: cluster.url, channel: name, logger: quiet })
      bus.start({ message: () => {}, connection: () => {} })
      const settled = (loginId: string) => succeeds(bus.publish(loginMessage(loginId)))
      let stopped = false
      try {
        await eventually(() => settled('l-before'), 5000, 'a publish')
        const acknowledged: string[] = []
        // The race is just after the master dies, while the client learns where the slot
        // went: a few deaths give it more chances than one long outage.
        for (let death = 0; death < 3; death++) {
          await cluster.stopNode(owner)
          stopped = true
          const until = Date.now() + 600
          for (let round = 0; Date.now() < until; round++) {
            const ids = [0, 1, 2, 3, 4, 5, 6, 7].map((index) => `l-${death}-${round}-${index}`)
            const sent = await Promise.all(ids.map(settled))
            acknowledged.push(...ids.filter((_, index) => sent[index]))
            await new Promise((resolve) => setTimeout(resolve, 5))
          }
          await cluster.startNode(owner)
          stopped = false
        }
        assert.deepEqual(acknowledged, [], 'publishes acknowledged with the log’s master down')
      } finally {
        await bus.close()
        if (stopped) await cluster.startNode(owner)
      }
    })
  })

  describe('revocation log on a cluster with replicas', () => {
    let replicated: PrivateRedisCluster | undefined
    before(async () => {
      replicated = await privateRedisCluster({ replicas: 1 })
    })
    after(() => replicated?.close())

    it('acknowledges a fact only once a replica of the log’s master holds it', async () => {
      const nodes = replicated!
      const name = unique('replica')
      const key = `{${name}}:log`
      const replica = await nodes.replicaOf(await nodes.nodeOf(key))
      const bus = redisBus({ url: nodes.url, channel: name, logger: quiet })
      let paused = false
      try {
        await eventually(() => succeeds(bus.publish(loginMessage('l-0'))), 5000, 'a publish')
        nodes.pauseNode(replica)
        paused = true
        await assert.rejects(bus.publish(loginMessage('l-1')), /No replica of the revocation log/)
        nodes.resumeNode(replica)
        paused = false
        await bus.publish(loginMessage('l-2'))
        // Read on the replica itself, at once: what was acknowledged is there.
        const onReplica = await replicaEntries(nodes.ports[replica]!, key)
        assert.ok(
          onReplica.some((entry) => entry.includes('"l-2"')),
          onReplica.join('\n'),
        )
      } finally {
        if (paused) nodes.resumeNode(replica)
        await bus.close()
      }
    })

    // The end-to-end case, not the proof (above): replication on loopback usually beats
    // the kill even without WAIT. Last: the cluster is left with a master without replica.
    it('a fact acknowledged just before its master dies is in the log the replica takes over', async () => {
      const nodes = replicated!
      const name = unique('failover')
      const owner = await nodes.nodeOf(`{${name}}:log`)
      const server = redisBus({ url: nodes.url, channel: name, logger: quiet })
      // The store of this server knows of no fact: a seed after the failover adds nothing.
      server.retain({ windowMs: 60_000, load: () => Promise.resolve([]) })
      const fact: RevocationFact = { type: 'login', loginId: 'l-9', userId: 'u' }
      const verifier = redisBus({ url: nodes.url, channel: name, logger: quiet })
      try {
        assert.deepEqual(await readUntilReady(server, 5000), [], 'seeded')
        await server.publish(loginMessage(fact.loginId))
        await nodes.stopNode(owner)
        // A verifier reading the log now reads it from the replica once it has taken over.
        assert.deepEqual(await readUntilReady(verifier, 10_000), [fact])
      } finally {
        await Promise.all([server.close(), verifier.close()])
      }
    })
  })
}

/** A bus message carrying the revocation of login `loginId` (of user `u`). */
function loginMessage(loginId: string): string {
  return encodeMessage({ v: 1, origin: 'o', facts: [{ type: 'login', loginId, userId: 'u' }] })
}

/** Whether `promise` fulfils. */
function succeeds(promise: Promise<unknown>): Promise<boolean> {
  return promise.then(
    () => true,
    () => false,
  )
}

/** The log's entries as the replica on `port` holds them. */
async function replicaEntries(port: number, key: string): Promise<string[]> {
  const node = new Redis({ host: '127.0.0.1', port, lazyConnect: true })
  try {
    await node.call('READONLY')
    return await node.zrangebyscore(key, '-inf', '+inf')
  } finally {
    node.disconnect()
  }
}

async function readUntilReady(bus: ReturnType<typeof redisBus>, ms = 2000) {
  const deadline = Date.now() + ms
  do {
    const facts = await bus.readLog(0).catch(() => null)
    if (facts !== null) return facts
    await new Promise((resolve) => setTimeout(resolve, 20))
  } while (Date.now() < deadline)
  return null
}
