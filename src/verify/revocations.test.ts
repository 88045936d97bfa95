/*
 * latchkey/verify with a revocation bus, against a private redis-server: revocations from
 * before the verifier started (the log) and after (live), and failing closed while Redis
 * is away or restarted empty and not yet re-seeded by a server node.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { bearer, harness, ISSUER as SERVER, signup, tokenLogin } from '../../test/harness.js'
import { serviceAvailable } from '../../test/services/gate.js'
import { privateRedis, redisUnreachable } from '../../test/services/redis.js'
import type { PrivateRedis } from '../../test/services/redis.js'
import { AuthError, ConfigError } from '../errors.js'
import type { RevocationFact } from '../revocation/facts.js'
import { createBusFeed } from '../revocation/feed.js'
import type { RevocationFeed } from '../revocation/feed.js'
import { redisBus } from '../revocation/redis-bus.js'
import { signAccessToken } from '../tokens/access-token.js'
import type { SigningKey } from '../tokens/access-token.js'
import { AUDIENCE, ISSUER, keyringFor, NOW } from '../tokens/fixtures.test.js'
import type { Keyring } from '../tokens/keyring.js'
import { createVerifier, RevocationUnavailableError } from './index.js'
import type { Verifier } from './index.js'

const FAST = { probeIntervalMs: 50, probeTimeoutMs: 200 }
const quiet = { warn: () => {} }

/** What `verify` ends in: `ok`, or the error's code (with `unavailable` for the bus). */
async function outcome(verifier: Verifier, token: string): Promise<string> {
  try {
    await verifier.verify(token)
    return 'ok'
  } catch (error) {
    if (error instanceof RevocationUnavailableError) return 'unavailable'
    if (error instanceof AuthError) return error.code
    throw error
  }
}

async function eventually(
  verifier: Verifier,
  token: string,
  expected: string,
  ms = 5000,
): Promise<void> {
  const deadline = Date.now() + ms
  let last = await outcome(verifier, token)
  while (last !== expected) {
    if (Date.now() > deadline) assert.fail(`expected ${expected}, still ${last}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
    last = await outcome(verifier, token)
  }
}

/** A server node: a feed on the bus that seeds the log from `store` (its facts). */
function serverNode(url: string, channel: string, load: () => Promise<RevocationFact[]>) {
  const bus = redisBus({ url, channel, logger: quiet })
  const feed: RevocationFeed = createBusFeed(bus, { ...FAST, logger: quiet })
  bus.retain({ windowMs: 630_000, load })
  return feed
}

if (serviceAvailable('redis', await redisUnreachable())) {
  describe('latchkey/verify with a revocation bus', () => {
    let server: PrivateRedis
    let keyring: Keyring
    let key: SigningKey
    before(async () => {
      server = await privateRedis()
      ;({ keyring, key } = await keyringFor('EdDSA'))
    })
    after(() => server.stop())

    const mint = (sub: string, sid: string, ver = 1) =>
      signAccessToken(key, { iss: ISSUER, sub, aud: AUDIENCE, sid, ver }, { now: NOW })

    function verifierOn(channel: string, redisUrl = server.url): Verifier {
      return createVerifier({
        jwksUrl: 'https://auth.example.com/.well-known/jwks.json',
        issuer: ISSUER,
        audience: AUDIENCE,
        clock: () => NOW,
        fetch: () => Promise.resolve(Response.json(keyring.publicJwks(NOW))),
        revocation: { redisUrl, channel, ...FAST, logger: quiet },
      })
    }

    it('refuses a token revoked before it started, and one revoked after', async () => {
      const channel = `latchkey:test:${randomBytes(6).toString('hex')}`
      const early = mint('user-1', 'login-early')
      const node = serverNode(server.url, channel, () =>
        Promise.resolve([{ type: 'login', loginId: 'login-early', userId: 'user-1' }]),
      )
      const live = mint('user-2', 'login-live')
      const byJti = mint('user-3', 'login-3')
      const oldVersion = mint('user-4', 'login-4', 1)
      const verifier = verifierOn(channel)
      try {
        await eventually(verifier, live.token, 'ok')
        assert.equal(await outcome(verifier, early.token), 'token_revoked')

        await node.publish([{ type: 'login', loginId: 'login-live', userId: 'user-2' }])
        await node.publish([{ type: 'token', jti: byJti.claims.jti, until: NOW + 600_000 }])
        await node.publish([{ type: 'user', userId: 'user-4', version: 2 }])
        await eventually(verifier, live.token, 'token_revoked', 500)
        await eventually(verifier, byJti.token, 'token_revoked', 500)
        await eventually(verifier, oldVersion.token, 'token_revoked', 500)
        assert.equal(await outcome(verifier, mint('user-4', 'login-5', 2).token), 'ok')
      } finally {
        await verifier.close()
        await node.close()
      }
    })

    it('forgets a revocation once the window has passed; a denied jti at its expiry', async () => {
      const channel = `latchkey:test:${randomBytes(6).toString('hex')}`
      const node = serverNode(server.url, channel, () => Promise.resolve([]))
      const clock = { now: NOW }
      const verifier = createVerifier({
        jwksUrl: 'https://auth.example.com/.well-known/jwks.json',
        issuer: ISSUER,
        audience: AUDIENCE,
        clock: () => clock.now,
        fetch: () => Promise.resolve(Response.json(keyring.publicJwks(NOW))),
        revocation: { redisUrl: server.url, channel, windowMs: 60_000, ...FAST, logger: quiet },
      })
      const bySid = mint('user-1', 'login-1').token
      const byJti = mint('user-2', 'login-2')
      try {
        await eventually(verifier, bySid, 'ok')
        await node.publish([
          { type: 'login', loginId: 'login-1', userId: 'user-1' },
          { type: 'token', jti: byJti.claims.jti, until: NOW + 30_000 },
        ])
        await eventually(verifier, bySid, 'token_revoked', 500)
        assert.equal(await outcome(verifier, byJti.token), 'token_revoked')
        clock.now = NOW + 30_000
        assert.equal(await outcome(verifier, byJti.token), 'ok')
        assert.equal(await outcome(verifier, bySid), 'token_revoked')
        clock.now = NOW + 60_000
        assert.equal(await outcome(verifier, bySid), 'ok')
      } finally {
        await verifier.close()
        await node.close()
      }
    })

    it('refuses bad revocation options at construction', () => {
      const build = (revocation: Record<string, unknown>) => () =>
        createVerifier({
          jwksUrl: 'https://auth.example.com/.well-known/jwks.json',
          issuer: ISSUER,
          audience: AUDIENCE,
          revocation: { redisUrl: server.url, ...revocation },
        })
      assert.throws(build({ windowMs: -1 }), ConfigError)
      assert.throws(build({ probeIntervalMs: 100, probeTimeoutMs: 50 }), ConfigError)
      assert.throws(build({ redisUrl: 'http://nope' }), ConfigError)
    })

    it('runs as a Redis user with only the permissions the README lists', async () => {
      const channel = `latchkey:test:${randomBytes(6).toString('hex')}`
      const admin = new Redis(server.url)
      // A user per set of commands; without +publish the probes never come back.
      const user = async (name: string, commands: string[]) => {
        await admin.call('ACL', 'SETUSER', name, 'reset', 'on', '>secret-pw')
        await admin.call('ACL', 'SETUSER', name, `~{${channel}}:*`, `&${channel}`, ...commands)
        return server.url.replace('redis://', `redis://${name}:secret-pw@`)
      }
      const listed = ['+subscribe', '+publish', '+evalsha', '+eval', '+zrangebyscore', '+info']
      const complete = await user('verifier-all', listed)
      // The same but +publish: it reads the log, yet is never sure it hears the bus.
      const silent = await user(
        'verifier-no-publish',
        listed.filter((command) => command !== '+publish'),
      )
      const node = serverNode(server.url, channel, () =>
        Promise.resolve([{ type: 'login', loginId: 'login-early', userId: 'user-1' }]),
      )
      const verifier = verifierOn(channel, complete)
      let closed: Verifier | undefined
      let nodeOpen = true
      const live = mint('user-2', 'login-live')
      try {
        await eventually(verifier, live.token, 'ok')
        closed = verifierOn(channel, silent)
        assert.equal(await outcome(verifier, mint('user-1', 'login-early').token), 'token_revoked')
        await node.publish([{ type: 'login', loginId: 'login-live', userId: 'user-2' }])
        await eventually(verifier, live.token, 'token_revoked', 500)
        await new Promise((resolve) => setTimeout(resolve, 500))
        assert.equal(await outcome(closed, mint('user-3', 'login-3').token), 'unavailable')
        // The probe's script gone from Redis (as after a restart) and no server node to run
        // it first: the verifier loads it itself, through EVAL, and stays in sync.
        await node.close()
        nodeOpen = false
        await admin.script('FLUSH')
        await new Promise((resolve) => setTimeout(resolve, 600))
        await eventually(verifier, mint('user-4', 'login-4').token, 'ok', 2000)
      } finally {
        await Promise.all([verifier.close(), closed?.close(), nodeOpen && node.close()])
        await admin.call('ACL', 'DELUSER', 'verifier-all', 'verifier-no-publish')
        admin.disconnect()
      }
    })

    it('fails closed while Redis is stopped; recovers once back and re-seeded', async () => {
      const channel = `latchkey:test:${randomBytes(6).toString('hex')}`
      const node = serverNode(server.url, channel, () => Promise.resolve([]))
      const verifier = verifierOn(channel)
      const token = mint('user-1', 'login-1').token
      try {
        await eventually(verifier, token, 'ok')
        await server.stop()
        await eventually(verifier, token, 'unavailable', 2000)
        await server.start()
        await eventually(verifier, token, 'ok', 10_000)
      } finally {
        await verifier.close()
        await node.close()
      }
    })

    it('after an empty restart it stays closed until a server node seeds the log', async () => {
      const channel = `latchkey:test:${randomBytes(6).toString('hex')}`
      let seeding = true
      const revoked: RevocationFact[] = [{ type: 'login', loginId: 'login-x', userId: 'user-x' }]
      const node = serverNode(server.url, channel, () =>
        seeding ? Promise.resolve(revoked) : Promise.reject(new Error('store down')),
      )
      const verifier = verifierOn(channel)
      const token = mint('user-1', 'login-1').token
      try {
        await eventually(verifier, token, 'ok')
        seeding = false
        await server.stop()
        await server.start()
        // Connected again, probes come back, but the log has no marker: still refused.
        while (!node.trusted) await new Promise((resolve) => setTimeout(resolve, 10))
        await new Promise((resolve) => setTimeout(resolve, 500))
        assert.equal(await outcome(verifier, token), 'unavailable')
        seeding = true
        await eventually(verifier, token, 'ok', 5000)
        // A verifier that starts now learns of the earlier revocation from the new log.
        const late = verifierOn(channel)
        try {
          await eventually(late, token, 'ok')
          assert.equal(await outcome(late, mint('user-x', 'login-x').token), 'token_revoked')
        } finally {
          await late.close()
        }
      } finally {
        await verifier.close()
        await node.close()
      }
    })

    it('beside a Latchkey node: a logout reaches running verifiers and later ones', async () => {
      const channel = `latchkey:test:${randomBytes(6).toString('hex')}`
      const bus = redisBus({ url: server.url, channel, logger: quiet })
      const h = harness({ revocation: { bus, ...FAST } })
      const verifierFor = () =>
        createVerifier({
          jwksUrl: `${SERVER}/.well-known/jwks.json`,
          issuer: SERVER,
          audience: SERVER,
          clock: h.clock,
          fetch: (input) => h.send(new URL(input instanceof Request ? input.url : input).pathname),
          revocation: { redisUrl: server.url, channel, ...FAST, logger: quiet },
        })
      const email = `v-${randomBytes(4).toString('hex')}@example.com`
      assert.equal((await signup(h, email)).status, 201)
      const [first, second] = [await tokenLogin(h, email), await tokenLogin(h, email)]
      const running = verifierFor()
      const verifiers = [running]
      try {
        await eventually(running, first.accessToken, 'ok')
        const logout = await h.send('/auth/logout', {
          method: 'POST',
          headers: bearer(first.accessToken),
          body: JSON.stringify({ scope: 'local' }),
        })
        assert.equal(logout.status, 204)
        await eventually(running, first.accessToken, 'token_revoked', 500)

        // Redis comes back empty: only the node's re-seeding from its store can tell a
        // verifier that starts now about the logout.
        await server.stop()
        await server.start()
        const late = verifierFor()
        verifiers.push(late)
        await eventually(late, second.accessToken, 'ok', 10_000)
        assert.equal(await outcome(late, first.accessToken), 'token_revoked')
        await eventually(running, second.accessToken, 'ok', 10_000)
        assert.equal(await outcome(running, first.accessToken), 'token_revoked')
      } finally {
        await Promise.all(verifiers.map((verifier) => verifier.close()))
        await h.latchkey.close()
      }
    })
  })
}
