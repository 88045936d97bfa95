/*
 * The Postgres bus against a real server: delivery between nodes through the feed, a
 * LISTEN connection killed by the server, a network cut, garbage, and payload splitting.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import { serviceAvailable } from '../../test/services/gate.js'
import { postgresUnreachable, postgresUrl, withPostgres } from '../../test/services/postgres.js'
import { tcpProxy } from '../../test/services/proxy.js'
import type { RevocationFact } from './facts.js'
import { decodeMessage, encodeMessage } from './facts.js'
import { createBusFeed } from './feed.js'
import { eventually } from '../../test/services/eventually.js'
import { listen } from '../../test/revocation/listen.js'
import { postgresBus, splitPayload } from './postgres-bus.js'

const FAST = { probeIntervalMs: 50, probeTimeoutMs: 200, logger: { warn: () => {} } }

const unique = () => randomBytes(6).toString('hex')

describe('postgres bus: payload splitting', () => {
  it('splits a message of many facts into payloads under 8000 bytes, losing none', () => {
    const facts: RevocationFact[] = Array.from({ length: 400 }, (_, i) => ({
      type: 'login',
      loginId: `login-${i}-${'x'.repeat(40)}`,
      userId: `user-${i}`,
    }))
    const parts = splitPayload(encodeMessage({ v: 1, origin: 'o', facts }))
    assert.ok(parts.length > 1)
    assert.ok(parts.every((part) => Buffer.byteLength(part) < 8000))
    const joined = parts.flatMap((part) => {
      const message = decodeMessage(part)
      return message !== null && 'facts' in message ? message.facts : []
    })
    assert.deepEqual(joined, facts)
  })

  it('refuses an oversize payload that is not a list of facts', () => {
    assert.throws(() => splitPayload('x'.repeat(9000)), RangeError)
  })
})

if (serviceAvailable('postgres', await postgresUnreachable())) {
  describe('postgres bus', () => {
    it('two nodes on one channel hear each other, even a message split in parts', async () => {
      const channel = `latchkey_test_${unique()}`
      const a = createBusFeed(postgresBus({ connectionString: postgresUrl, channel }), FAST)
      const b = createBusFeed(postgresBus({ connectionString: postgresUrl, channel }), FAST)
      try {
        const atB = listen(b)
        await eventually(() => a.trusted && b.trusted, 5000, 'both trusted')
        const fact: RevocationFact = { type: 'token', jti: 'j-1', until: 1 }
        const started = Date.now()
        await a.publish([fact])
        await eventually(() => atB.heard.length === 1, 1000, 'the fact at b')
        assert.ok(Date.now() - started < 500)
        const many: RevocationFact[] = Array.from({ length: 300 }, (_, i) => ({
          type: 'user',
          userId: `user-${i}-${'y'.repeat(40)}`,
          version: i,
        }))
        await a.publish(many)
        await eventually(() => atB.heard.flat().length === 301, 2000, 'every part')
        assert.deepEqual(atB.heard.flat(), [fact, ...many])
      } finally {
        await Promise.all([a.close(), b.close()])
      }
    })

    it('a LISTEN connection killed by the server goes down, then up by itself', async () => {
      const channel = `latchkey_test_${unique()}`
      const applicationName = `latchkey-test-${unique()}`
      const bus = postgresBus({ connectionString: postgresUrl, channel, applicationName })
      const feed = createBusFeed(bus, FAST)
      try {
        const heard = listen(feed)
        await eventually(() => feed.trusted, 5000, 'trusted')
        const killed = await withPostgres(async (client) => {
          const result = await client.query<{ killed: boolean }>(
            `select pg_terminate_backend(pid) as killed from pg_stat_activity
             where application_name = $1 and query ilike 'listen%'`,
            [applicationName],
          )
          return result.rows.length
        })
        assert.equal(killed, 1)
        await eventually(() => !feed.trusted, 2000, 'untrusted')
        assert.ok(heard.flushes() >= 1)
        await eventually(() => feed.trusted, 5000, 'trusted again')
      } finally {
        await feed.close()
      }
    })

    it('a network cut makes the feed untrusted; once restored it is trusted again', async () => {
      const target = new URL(postgresUrl)
      const proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
      const through = new URL(postgresUrl)
      through.host = `${proxy.host}:${proxy.port}`
      const channel = `latchkey_test_${unique()}`
      const feed = createBusFeed(
        postgresBus({ connectionString: through.toString(), channel, connectTimeoutMs: 500 }),
        FAST,
      )
      try {
        const heard = listen(feed)
        await eventually(() => feed.trusted, 5000, 'trusted')
        proxy.cut()
        await eventually(() => !feed.trusted, 2000, 'untrusted')
        assert.ok(heard.flushes() >= 1)
        await new Promise((resolve) => setTimeout(resolve, 300))
        assert.equal(feed.trusted, false, 'still down while cut')
        proxy.restore()
        await eventually(() => feed.trusted, 5000, 'trusted again')
      } finally {
        await feed.close()
        await proxy.close()
      }
    })

    it('reports up only once LISTEN is in place: a notification sent then arrives', async () => {
      const channel = `latchkey_test_${unique()}`
      const applicationName = `latchkey-test-${unique()}`
      const bus = postgresBus({ connectionString: postgresUrl, channel, applicationName })
      const received: string[] = []
      let ups = 0
      bus.start({
        message: (payload) => received.push(payload),
        connection(up) {
          if (!up) return
          ups++
          void withPostgres((client) =>
            client.query('select pg_notify($1, $2)', [channel, `up-${ups}`]),
          )
        },
      })
      try {
        await eventually(() => received.includes('up-1'), 5000, 'the notification sent at up')
        await withPostgres((client) =>
          client.query(
            `select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1`,
            [applicationName],
          ),
        )
        await eventually(() => received.includes('up-2'), 5000, 'the one after reconnecting')
      } finally {
        await bus.close()
      }
    })

    it('ignores garbage on the channel', async () => {
      const channel = `latchkey_test_${unique()}`
      const feed = createBusFeed(postgresBus({ connectionString: postgresUrl, channel }), FAST)
      try {
        const heard = listen(feed)
        await eventually(() => feed.trusted, 5000, 'trusted')
        await withPostgres(async (client) => {
          for (const junk of ['', 'garbage', '{"v":1,"origin":"x","facts":[1]}']) {
            await client.query('select pg_notify($1, $2)', [channel, junk])
          }
          await client.query('select pg_notify($1, $2)', [
            channel,
            encodeMessage({ v: 1, origin: 'other', facts: [{ type: 'key', kid: 'k' }] }),
          ])
        })
        await eventually(() => heard.heard.length === 1, 1000, 'the valid message')
        assert.deepEqual(heard.heard, [[{ type: 'key', kid: 'k' }]])
        assert.equal(feed.trusted, true)
      } finally {
        await feed.close()
      }
    })

    it('publishing while Postgres is unreachable rejects quickly', async () => {
      const bus = postgresBus({
        connectionString: 'postgres://postgres@127.0.0.1:1/test',
        connectTimeoutMs: 300,
      })
      try {
        const started = Date.now()
        await assert.rejects(bus.publish('{"v":1,"origin":"o","probe":"p"}'))
        assert.ok(Date.now() - started < 1000)
      } finally {
        await bus.close()
      }
    })
  })
}
