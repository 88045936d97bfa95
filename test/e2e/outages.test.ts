import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { serviceAvailable } from '../services/gate.js'
import {
  freshSchema,
  postgresUnreachable,
  postgresUrl,
  urlWithSchema,
} from '../services/postgres.js'
import { tcpProxy, type Cuttable } from '../services/proxy.js'
import { privateRedis, type PrivateRedis } from '../services/redis.js'
import { client } from './client.js'
import { freePort, startCli, tempDataDir, type ServerProcess } from './process.js'
import { eventually } from '../services/eventually.js'

const PASSWORD = 'correct horse battery staple'

const unreachable = await postgresUnreachable()

/** Two nodes on a Redis and a Postgres (behind a proxy) that the test can take away. */
async function deployment(redis: PrivateRedis, postgres: Cuttable, schema: string) {
  const ports = await Promise.all([freePort(), freePort()])
  const urls = ports.map((port) => `http://localhost:${port}`)
  const database = new URL(urlWithSchema(schema))
  database.host = `${postgres.host}:${postgres.port}`
  const shared = {
    DATABASE_URL: database.toString(),
    REDIS_URL: redis.url,
    LATCHKEY_SECRET: randomBytes(32).toString('base64url'),
    LATCHKEY_ISSUER: urls[0]!,
    LATCHKEY_TRUSTED_ORIGINS: urls.join(','),
  }
  const nodes = await Promise.all(
    ports.map(async (port) =>
      startCli({ ...shared, PORT: String(port), LATCHKEY_DATA_DIR: await tempDataDir() }),
    ),
  )
  return { nodes, urls }
}

const healthOf = async (url: string) => {
  const response = await client(url).send('/healthz')
  return { status: response.status, body: response.json }
}

if (serviceAvailable('Postgres for outage tests', unreachable)) {
  describe('outages of Redis and Postgres, against real server processes', () => {
    let redis: PrivateRedis
    let postgres: Cuttable
    let nodes: ServerProcess[] = []
    let urls: string[] = []
    let drop: () => Promise<void>

    before(async () => {
      const schema = await freshSchema('outages')
      drop = () => schema.drop()
      redis = await privateRedis()
      const target = new URL(postgresUrl)
      postgres = await tcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
      ;({ nodes, urls } = await deployment(redis, postgres, schema.schema))
    })
    after(async () => {
      await Promise.all(nodes.map((node) => node.stop()))
      await redis.stop()
      await postgres.close()
      await drop()
    })

    const sessionOn = async (browser: ReturnType<typeof client>, url: string) =>
      (await browser.send(`${url}/auth/session`)).status

    it('Redis stops: requests are served from Postgres, revocations hold, never a 500', async () => {
      const browser = client(urls[0]!)
      const email = 'redis-outage@example.com'
      assert.equal(
        (await browser.send('/auth/signup', { body: { email, password: PASSWORD } })).status,
        201,
      )
      const first = await browser.send('/auth/login', { body: { email, password: PASSWORD } })
      assert.equal(first.status, 200)
      for (const url of urls) assert.equal(await sessionOn(browser, url), 200)

      await redis.stop()
      await eventually(
        async () => (await healthOf(urls[1]!)).body?.['status'] === 'degraded',
        10_000,
        'the node reports its lost bus',
      )
      // Still served, from Postgres.
      for (const url of urls) assert.equal(await sessionOn(browser, url), 200)
      const other = client(urls[0]!)
      const second = await other.send('/auth/login', { body: { email, password: PASSWORD } })
      assert.equal(second.status, 200, 'a login needs no Redis (counters fall back to Postgres)')
      // A logout through A while the bus is down: B never hears it, and refuses anyway.
      assert.equal((await other.send(`${urls[0]}/auth/logout`, { body: {} })).status, 204)
      assert.equal(await sessionOn(other, urls[1]!), 401)
      assert.equal(await sessionOn(browser, urls[1]!), 200)

      await redis.start()
      for (const url of urls) {
        await eventually(
          async () => (await healthOf(url)).body?.['status'] === 'ok',
          10_000,
          'the node recovers by itself',
        )
      }
      assert.equal(await sessionOn(other, urls[0]!), 401)
      assert.equal(await sessionOn(browser, urls[1]!), 200)
      // And the bus carries revocations again.
      assert.equal((await browser.send(`${urls[1]}/auth/logout`, { body: {} })).status, 204)
      await eventually(
        async () => (await sessionOn(browser, urls[0]!)) === 401,
        2_000,
        'the logout on A',
      )
    })

    it('Postgres goes away: cached sessions still answer, the rest is 503, and it all comes back', async () => {
      const browser = client(urls[0]!)
      const email = 'postgres-outage@example.com'
      assert.equal(
        (await browser.send('/auth/signup', { body: { email, password: PASSWORD } })).status,
        201,
      )
      assert.equal(
        (await browser.send('/auth/login', { body: { email, password: PASSWORD } })).status,
        200,
      )
      assert.equal(await sessionOn(browser, urls[0]!), 200)

      postgres.cut()
      // The node validated this session a moment ago and the bus is up: no store needed.
      assert.equal(await sessionOn(browser, urls[0]!), 200)
      const stranger = client(urls[0]!)
      const refused = await stranger.send('/auth/login', { body: { email, password: PASSWORD } })
      assert.equal(refused.status, 503)
      assert.equal(refused.json?.['error'], 'store_unavailable')
      const signup = await stranger.send('/auth/signup', {
        body: { email: 'during-outage@example.com', password: PASSWORD },
      })
      assert.equal(signup.status, 503)
      assert.equal((await healthOf(urls[0]!)).status, 503)

      postgres.restore()
      await eventually(
        async () => (await healthOf(urls[0]!)).status === 200,
        10_000,
        'the node reconnects by itself',
      )
      // Nothing acknowledged was lost; nothing refused was half-written.
      const again = await stranger.send('/auth/login', { body: { email, password: PASSWORD } })
      assert.equal(again.status, 200)
      const retry = await client(urls[0]!).send('/auth/signup', {
        body: { email: 'during-outage@example.com', password: PASSWORD },
      })
      assert.equal(retry.status, 201)
      // A request that ended in a 500 is logged as "<METHOD> <path> failed": none may be.
      for (const node of nodes)
        assert.doesNotMatch(node.output(), /^(?:GET|POST|DELETE) \S+ failed/m)
    })
  })
}
