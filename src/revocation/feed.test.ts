import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { eventually } from '../../test/services/eventually.js'
import { memoryWire } from '../../test/revocation/memory-wire.js'
import type { RevocationFact } from './facts.js'
import { createBusFeed, createLocalFeed, type RevocationFeed } from './feed.js'

const quiet = { warn: () => undefined }
const fast = { probeIntervalMs: 20, probeTimeoutMs: 60, logger: quiet }
const fact: RevocationFact = { type: 'login', loginId: 'login-1', userId: 'user-1' }

function record(feed: RevocationFeed) {
  const seen: { facts: RevocationFact[]; remote: boolean }[] = []
  let flushes = 0
  feed.subscribe({
    facts: (facts, remote) => seen.push({ facts: [...facts], remote }),
    flush: () => flushes++,
  })
  return {
    seen,
    get flushes() {
      return flushes
    },
  }
}

describe('the local feed', () => {
  it('applies a fact before publish returns, and is always trusted', async () => {
    const feed = createLocalFeed()
    const log = record(feed)
    const before = feed.generation
    await feed.publish([fact])
    assert.deepEqual(log.seen, [{ facts: [fact], remote: false }])
    assert.equal(feed.trusted, true)
    assert.ok(feed.generation > before)
  })
})

describe('a feed over a bus', () => {
  it('is not trusted until its own probe has made the round trip', async () => {
    const wire = memoryWire()
    wire.blackhole = true
    const feed = createBusFeed(wire.transport(), fast)
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(feed.trusted, false)
    wire.blackhole = false
    await eventually(() => feed.trusted)
    await feed.close()
  })

  it('delivers facts to the other nodes, and applies its own once', async () => {
    const wire = memoryWire()
    const a = createBusFeed(wire.transport(), fast)
    const b = createBusFeed(wire.transport(), fast)
    const logA = record(a)
    const logB = record(b)
    await eventually(() => a.trusted && b.trusted)
    await a.publish([fact])
    await eventually(() => logB.seen.length === 1)
    assert.deepEqual(logB.seen, [{ facts: [fact], remote: true }])
    await new Promise((resolve) => setTimeout(resolve, 20))
    assert.deepEqual(logA.seen, [{ facts: [fact], remote: false }])
    await Promise.all([a.close(), b.close()])
  })

  it('flushes and distrusts its caches when the bus drops, and recovers by itself', async () => {
    const wire = memoryWire()
    const feed = createBusFeed(wire.transport(), fast)
    const log = record(feed)
    await eventually(() => feed.trusted)
    const generation = feed.generation
    wire.disconnect(50)
    assert.equal(feed.trusted, false)
    assert.equal(log.flushes, 1)
    assert.ok(feed.generation > generation)
    await eventually(() => feed.trusted)
    await feed.close()
  })

  it('notices a bus that swallows messages without dropping the connection', async () => {
    const wire = memoryWire()
    const feed = createBusFeed(wire.transport(), fast)
    const log = record(feed)
    await eventually(() => feed.trusted)
    wire.blackhole = true
    await eventually(() => !feed.trusted)
    assert.equal(log.flushes, 1)
    wire.blackhole = false
    await eventually(() => feed.trusted)
    await feed.close()
  })

  it('retries a publish the bus refused until it goes through', async () => {
    const wire = memoryWire()
    const a = createBusFeed(wire.transport(), fast)
    const b = createBusFeed(wire.transport(), fast)
    const logB = record(b)
    await eventually(() => a.trusted && b.trusted)
    wire.refusePublish = true
    await a.publish([fact])
    await new Promise((resolve) => setTimeout(resolve, 30))
    assert.equal(logB.seen.length, 0)
    wire.refusePublish = false
    await eventually(() => logB.seen.length === 1, 3000)
    await Promise.all([a.close(), b.close()])
  })

  it('ignores what is not a well-formed message', async () => {
    const wire = memoryWire()
    const feed = createBusFeed(wire.transport(), fast)
    const log = record(feed)
    await eventually(() => feed.trusted)
    for (const payload of [
      'not json',
      '{"v":1}',
      '{"v":2,"origin":"x","facts":[]}',
      '{"v":1,"origin":"x","facts":[{"type":"login","loginId":""}]}',
      '{"v":1,"origin":"x","facts":[{"type":"user","userId":"u","version":-1}]}',
      '{"v":1,"origin":"x","facts":[{"type":"nuke"}]}',
      '["v",1]',
    ]) {
      wire.inject(payload)
    }
    assert.deepEqual(log.seen, [])
    assert.equal(feed.trusted, true)
    await feed.close()
  })
})
