import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { manualClock } from '../../test/harness.js'
import { CredentialCache } from './cache.js'
import type { RevocationFact } from './facts.js'
import type { FeedListener, RevocationFeed } from './feed.js'

/** A feed the test drives by hand. */
function handFeed() {
  const listeners = new Set<FeedListener>()
  const feed = {
    trusted: true,
    generation: 0,
    state: 'up' as const,
    transport: 'hand',
    publish(facts: readonly RevocationFact[]) {
      feed.generation++
      for (const listener of listeners) listener.facts(facts, true)
      return Promise.resolve()
    },
    subscribe(listener: FeedListener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    close: () => Promise.resolve(),
    lose() {
      feed.trusted = false
      feed.generation++
      for (const listener of listeners) listener.flush()
    },
  }
  return feed satisfies RevocationFeed
}

const entry = (loginId: string, userId: string, jti?: string, expiresAt = Infinity) => ({
  value: loginId,
  loginId,
  userId,
  ...(jti === undefined ? {} : { jti }),
  expiresAt,
})

describe('the credential cache', () => {
  it('answers a filled credential until a fact about its login, user or jti', async () => {
    const clock = manualClock()
    const feed = handFeed()
    const cache = new CredentialCache<string>(feed, clock)
    const fill = (key: string, loginId: string, userId: string, jti?: string) =>
      cache.fill(key, entry(loginId, userId, jti), cache.begin())
    fill('a', 'login-a', 'user-1')
    fill('b', 'login-b', 'user-1')
    fill('c', 'login-c', 'user-2', 'jti-c')
    fill('d', 'login-d', 'user-3')
    assert.equal(cache.get('a', clock()), 'login-a')

    await feed.publish([{ type: 'login', loginId: 'login-a', userId: 'user-1' }])
    assert.equal(cache.get('a', clock()), undefined)
    assert.equal(cache.get('b', clock()), 'login-b')
    await feed.publish([{ type: 'token', jti: 'jti-c', until: clock() + 1000 }])
    assert.equal(cache.get('c', clock()), undefined)
    await feed.publish([{ type: 'user', userId: 'user-1', version: 2 }])
    assert.equal(cache.get('b', clock()), undefined)
    await feed.publish([{ type: 'key', kid: 'k' }])
    assert.equal(cache.get('d', clock()), 'login-d')
  })

  it('answers only the exact credential, also when two share their last characters', () => {
    const clock = manualClock()
    const feed = handFeed()
    const cache = new CredentialCache<string>(feed, clock)
    const tail = 'x'.repeat(64)
    cache.fill(`a.${tail}`, entry('login-a', 'user-1'), cache.begin())
    assert.equal(cache.get(`a.${tail}`, clock()), 'login-a')
    assert.equal(cache.get(`b.${tail}`, clock()), undefined)
    assert.equal(cache.get(tail, clock()), undefined)
    // The second one displaces the first; neither ever answers for the other.
    cache.fill(`b.${tail}`, entry('login-b', 'user-2'), cache.begin())
    assert.equal(cache.get(`b.${tail}`, clock()), 'login-b')
    assert.equal(cache.get(`a.${tail}`, clock()), undefined)
    assert.equal(cache.size, 1)
  })

  it('drops a fill whose read began before a fact arrived', async () => {
    const clock = manualClock()
    const feed = handFeed()
    const cache = new CredentialCache<string>(feed, clock)
    const generation = cache.begin()
    // The revocation lands between the store read and the fill.
    await feed.publish([{ type: 'login', loginId: 'login-a', userId: 'user-1' }])
    cache.fill('a', entry('login-a', 'user-1'), generation)
    assert.equal(cache.get('a', clock()), undefined)
  })

  it('answers nothing and keeps nothing while the feed is not trusted', () => {
    const clock = manualClock()
    const feed = handFeed()
    const cache = new CredentialCache<string>(feed, clock)
    cache.fill('a', entry('login-a', 'user-1'), cache.begin())
    feed.lose()
    assert.equal(cache.size, 0)
    cache.fill('b', entry('login-b', 'user-1'), cache.begin())
    assert.equal(cache.get('b', clock()), undefined)
    feed.trusted = true
    assert.equal(cache.get('a', clock()), undefined)
  })

  it('never answers past the entry expiry or the maximum age', () => {
    const clock = manualClock()
    const feed = handFeed()
    const cache = new CredentialCache<string>(feed, clock, { maxAgeMs: 1000 })
    cache.fill('short', entry('login-a', 'user-1', undefined, clock() + 500), cache.begin())
    cache.fill('long', entry('login-b', 'user-1'), cache.begin())
    clock.advance(499)
    assert.equal(cache.get('short', clock()), 'login-a')
    clock.advance(1)
    assert.equal(cache.get('short', clock()), undefined)
    assert.equal(cache.get('long', clock()), 'login-b')
    clock.advance(500)
    assert.equal(cache.get('long', clock()), undefined)
  })

  it('keeps at most maxEntries, dropping the oldest fill; 0 keeps nothing', () => {
    const clock = manualClock()
    const feed = handFeed()
    const cache = new CredentialCache<string>(feed, clock, { maxEntries: 2 })
    for (const key of ['a', 'b', 'c']) cache.fill(key, entry(key, 'user'), cache.begin())
    assert.equal(cache.size, 2)
    assert.equal(cache.get('a', clock()), undefined)
    assert.equal(cache.get('c', clock()), 'c')
    const off = new CredentialCache<string>(feed, clock, { maxEntries: 0 })
    off.fill('a', entry('a', 'user'), off.begin())
    assert.equal(off.get('a', clock()), undefined)
  })
})
