/*
 * The keyring's life cycle: first key, rotation (published before it signs), retirement
 * (published until its tokens have expired), removal, and other nodes following along.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { manualClock } from '../../test/harness.js'
import { ConfigError } from '../errors.js'
import { signAccessToken } from './access-token.js'
import {
  AUDIENCE,
  assertAuthError,
  ISSUER,
  MASTER_SECRET,
  NOW,
  verifierFor,
} from './fixtures.test.js'
import { memoryKeyStore } from './key-store.js'
import type { KeyStore } from './key-store.js'
import { JWKS_MAX_AGE_SECONDS, Keyring } from './keyring.js'

const SECOND = 1000
/** The default publish delay: a new key signs this long after it is made. */
const DELAY = JWKS_MAX_AGE_SECONDS * SECOND
const MINUTE = 60 * SECOND
const INPUT = { iss: ISSUER, sub: 'user-1', aud: AUDIENCE, sid: 'login-1', ver: 0 }
const newKeyring = (store = memoryKeyStore()) => new Keyring({ store, masterSecret: MASTER_SECRET })
const kids = (keyring: Keyring, now: number) => keyring.publicJwks(now).keys.map((jwk) => jwk.kid)

/** A memory key store that counts its reads and fails them while `failing`. */
function spiedStore(inner = memoryKeyStore()) {
  const spy = { reads: 0, failing: false }
  const store: KeyStore = {
    ...inner,
    listSigningKeys() {
      spy.reads += 1
      return spy.failing ? Promise.reject(new Error('store down')) : inner.listSigningKeys()
    },
  }
  return { store, spy }
}

describe('a fresh keyring', () => {
  test('makes one EdDSA key that signs at once', async () => {
    const keyring = newKeyring()
    const key = await keyring.ensure(NOW)
    assert.equal(key.alg, 'EdDSA')
    assert.equal(keyring.signingKey(NOW).kid, key.kid)
    assert.deepEqual(kids(keyring, NOW), [key.kid])
    assert.equal(keyring.list(NOW)[0]?.status, 'signing')
  })

  test('concurrent ensure calls make a single key', async () => {
    const store = memoryKeyStore()
    const keyring = newKeyring(store)
    const keys = await Promise.all(Array.from({ length: 5 }, () => keyring.ensure(NOW)))
    assert.equal(new Set(keys.map((key) => key.kid)).size, 1)
    assert.equal((await store.listSigningKeys()).length, 1)
  })

  test('publishes each JWK with kid, alg and use, and nothing private', async () => {
    const keyring = newKeyring()
    await keyring.ensure(NOW)
    const [jwk] = keyring.publicJwks(NOW).keys
    assert.deepEqual(Object.keys(jwk!).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x'])
    assert.equal(jwk!.use, 'sig')
  })

  test('refuses a short master secret, HS256 without a secret, and a short HS256 secret', () => {
    const store = memoryKeyStore()
    assert.throws(() => new Keyring({ store, masterSecret: Buffer.alloc(16) }), ConfigError)
    assert.throws(
      () => new Keyring({ store, masterSecret: MASTER_SECRET, alg: 'HS256' }),
      ConfigError,
    )
    const hmacSecret = Buffer.alloc(31)
    assert.throws(
      () => new Keyring({ store, masterSecret: MASTER_SECRET, alg: 'HS256', hmacSecret }),
      /32 bytes/,
    )
  })

  test('refuses RSA keys under 2048 bits', async () => {
    const keyring = new Keyring({
      store: memoryKeyStore(),
      masterSecret: MASTER_SECRET,
      alg: 'RS256',
      rsaBits: 1024,
    })
    await assert.rejects(keyring.ensure(NOW), /at least 2048 bits/)
  })
})

describe('rotation end to end', async () => {
  const store = memoryKeyStore()
  const keyring = newKeyring(store)
  const verify = verifierFor(keyring)
  const first = await keyring.ensure(NOW)
  const rotatedAt = NOW + MINUTE
  const delay = JWKS_MAX_AGE_SECONDS * SECOND
  const activation = rotatedAt + delay
  // Signed just before the new key takes over, so it lives longest of all old-key tokens.
  const lastOldToken = signAccessToken(first, INPUT, { now: activation - 1 })
  const rotated = await keyring.rotate(rotatedAt)

  test('the new key is published at once but does not sign yet', () => {
    assert.equal(rotated.status, 'pending')
    assert.equal(rotated.activatesAt, activation)
    assert.deepEqual(new Set(kids(keyring, rotatedAt)), new Set([first.kid, rotated.kid]))
    assert.equal(keyring.signingKey(rotatedAt).kid, first.kid)
    assert.equal(keyring.signingKey(activation - 1).kid, first.kid)
  })

  test('the new key signs from its activation (after the JWKS max-age)', () => {
    assert.equal(keyring.signingKey(activation).kid, rotated.kid)
    const statuses = Object.fromEntries(
      keyring.list(activation).map((key) => [key.kid, key.status]),
    )
    assert.deepEqual(statuses, { [first.kid]: 'retired', [rotated.kid]: 'signing' })
  })

  test('the old key retires at the activation and stays published for the max TTL + skew', () => {
    const old = keyring.list(activation).find((key) => key.kid === first.kid)!
    assert.equal(old.retiredAt, activation)
    assert.equal(old.expiresAt, activation + 600 * SECOND + 30 * SECOND)
    assert.ok(kids(keyring, old.expiresAt - 1).includes(first.kid))
    assert.ok(!kids(keyring, old.expiresAt).includes(first.kid))
  })

  test('tokens signed before the rotation verify until they expire', () => {
    const { token, claims } = lastOldToken
    assert.equal((verify(token, activation + MINUTE) as { jti: string }).jti, claims.jti)
    assert.doesNotThrow(() => verify(token, claims.exp * 1000 - 1))
    assertAuthError(() => verify(token, claims.exp * 1000 + 30 * SECOND), 'token_expired')
  })

  test('tokens of the new key verify too', () => {
    const { token } = signAccessToken(keyring.signingKey(activation), INPUT, { now: activation })
    assert.equal((verify(token, activation) as { sub: string }).sub, 'user-1')
  })

  test('removal waits for expiresAt; then old tokens fail with invalid_token, naming the kid', async () => {
    const expiresAt = keyring.list(activation).find((key) => key.kid === first.kid)!.expiresAt!
    assert.deepEqual(await keyring.removeExpired(expiresAt - 1), [])
    assert.deepEqual(await keyring.removeExpired(expiresAt), [first.kid])
    assert.equal((await store.listSigningKeys()).length, 1)
    assert.equal(keyring.keyFor(first.kid), undefined)
    const { token } = lastOldToken
    assertAuthError(
      () => verify(token, expiresAt),
      'invalid_token',
      /No signing key has this "kid" \(unknown, or retired and removed\)/,
    )
  })

  test('another node sharing the store follows after refresh()', async () => {
    const other = newKeyring(store)
    await other.refresh()
    assert.equal(other.signingKey(activation).kid, rotated.kid)
  })
})

describe('automatic rotation', () => {
  test('rotationDue compares the newest key with the interval; maintain rotates and cleans', async () => {
    const keyring = newKeyring()
    const day = 24 * 60 * MINUTE
    assert.equal(keyring.rotationDue(NOW, day), true, 'an empty keyring is due')
    await keyring.ensure(NOW)
    assert.equal(keyring.rotationDue(NOW + day - 1, day), false)
    assert.equal(keyring.rotationDue(NOW + day, day), true)
    await keyring.maintain(NOW + day, day)
    assert.equal(keyring.list(NOW + day).length, 2)
    assert.equal(keyring.rotationDue(NOW + day, day), false)
    await keyring.maintain(NOW + 2 * day, 7 * day)
    assert.equal(keyring.list(NOW + 2 * day).length, 1, 'the retired key is gone')
  })

  test('a second rotation before the first activates retires the pending key at the newer activation', async () => {
    const keyring = newKeyring()
    const first = await keyring.ensure(NOW)
    const second = await keyring.rotate(NOW + MINUTE)
    const third = await keyring.rotate(NOW + 2 * MINUTE)
    const byKid = new Map(keyring.list(NOW + 2 * MINUTE).map((key) => [key.kid, key]))
    assert.equal(byKid.get(first.kid)!.retiredAt, second.activatesAt)
    assert.equal(byKid.get(second.kid)!.retiredAt, third.activatesAt)
    assert.equal(keyring.signingKey(second.activatesAt).kid, second.kid)
    assert.equal(keyring.signingKey(third.activatesAt).kid, third.kid)
  })
})

describe('ensure without a store read', () => {
  const WINDOW = DELAY / 2
  const setup = async () => {
    const { store, spy } = spiedStore()
    const clock = manualClock(NOW)
    const keyring = new Keyring({ store, masterSecret: MASTER_SECRET, clock })
    const first = await keyring.ensure(NOW)
    return { store, spy, clock, keyring, first, reads: spy.reads }
  }

  test('two ensure calls within half the publish delay read the store once', async () => {
    const { spy, clock, keyring, first, reads } = await setup()
    clock.advance(WINDOW - 1)
    const again = await keyring.ensure(clock())
    assert.equal(spy.reads, reads)
    assert.equal(again, first)
  })

  test('once half the publish delay has passed, ensure reads the store again', async () => {
    const { spy, clock, keyring, first, reads } = await setup()
    clock.advance(WINDOW)
    assert.equal((await keyring.ensure(clock())).kid, first.kid)
    assert.equal(spy.reads, reads + 1)
    // That read dates the keys anew.
    await keyring.ensure(clock() + WINDOW - 1)
    assert.equal(spy.reads, reads + 1)
  })

  test('a failed refresh does not make the keys fresh', async () => {
    const { spy, clock, keyring, reads } = await setup()
    clock.advance(WINDOW)
    spy.failing = true
    await assert.rejects(keyring.refresh(), /store down/)
    await assert.rejects(keyring.ensure(clock()), /store down/)
    spy.failing = false
    await keyring.ensure(clock())
    assert.equal(spy.reads, reads + 3)
  })

  test('with a publish delay of 0, every ensure reads the store', async () => {
    const { store, spy } = spiedStore()
    const clock = manualClock(NOW)
    const keyring = new Keyring({ store, masterSecret: MASTER_SECRET, publishDelayMs: 0, clock })
    await keyring.ensure(NOW)
    const reads = spy.reads
    await keyring.ensure(NOW)
    await keyring.ensure(NOW)
    assert.equal(spy.reads, reads + 2)
    // A `now` from another clock than the keyring's (here behind it) is never fresh either.
    const behind = new Keyring({ store, masterSecret: MASTER_SECRET, publishDelayMs: 0 })
    await behind.ensure(NOW)
    await behind.ensure(NOW)
    assert.equal(spy.reads, reads + 4)
  })
})

describe('two nodes on one store, one rotating', () => {
  /** Node A (reads counted) and node B; B's clock is `behindMs` behind A's. */
  const nodes = (behindMs = 0) => {
    const inner = memoryKeyStore()
    const { store, spy } = spiedStore(inner)
    const clock = manualClock(NOW)
    const a = new Keyring({ store, masterSecret: MASTER_SECRET, clock })
    const bClock = () => clock() - behindMs
    const b = new Keyring({ store: inner, masterSecret: MASTER_SECRET, clock: bClock })
    return { inner, spy, clock, a, b, bClock }
  }

  test('A switches to B’s new key exactly at its activation, with no explicit refresh', async () => {
    const { spy, clock, a, b, bClock } = nodes()
    const first = await a.ensure(clock())
    clock.advance(1)
    const next = await b.rotate(bClock())
    clock.advance(SECOND)
    const reads = spy.reads
    assert.equal((await a.ensure(clock())).kid, first.kid)
    assert.equal(spy.reads, reads, 'A answered from memory, not knowing the new key')
    // A's keys are now older than half the delay: the window rule makes it read again.
    clock.advance(next.activatesAt - 1 - clock())
    assert.equal((await a.ensure(clock())).kid, first.kid)
    clock.advance(1)
    assert.equal((await a.ensure(clock())).kid, next.kid)
  })

  test('with B’s clock almost half the delay behind, A still switches at the activation', async () => {
    const { clock, a, b, bClock } = nodes(DELAY / 2 - SECOND)
    const first = await a.ensure(clock())
    clock.advance(1)
    const next = await b.rotate(bClock())
    // In A's time the key activates 1 ms + 1 s after half the delay has passed since A's load.
    assert.equal(next.activatesAt, NOW + 1 + DELAY / 2 + SECOND)
    clock.advance(next.activatesAt - 1 - clock())
    assert.equal((await a.ensure(clock())).kid, first.kid)
    clock.advance(1)
    assert.equal((await a.ensure(clock())).kid, next.kid)
  })

  test('A never signs with a key at or after its retiredAt', async () => {
    const { inner, spy, clock, a, b, bClock } = nodes()
    const truth = new Keyring({ store: inner, masterSecret: MASTER_SECRET })
    const rotations = new Set([NOW + 10 * SECOND, NOW + DELAY + 70 * SECOND])
    let calls = 0
    for (let t = NOW; t <= NOW + 3 * DELAY; t += 10 * SECOND, calls += 1) {
      clock.advance(t - clock())
      if (rotations.has(t)) await b.rotate(bClock())
      const kid = (await a.ensure(t)).kid
      await truth.refresh()
      const record = truth.list(t).find((key) => key.kid === kid)!
      assert.ok(record.retiredAt === null || t < record.retiredAt, `retired key at ${t - NOW}`)
      assert.equal(kid, truth.signingKey(t).kid, `at ${t - NOW}`)
    }
    assert.ok(spy.reads < calls / 2, `${spy.reads} reads for ${calls} calls`)
  })
})
