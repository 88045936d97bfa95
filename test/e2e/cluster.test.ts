import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { eventually } from '../services/eventually.js'
import { serviceAvailable } from '../services/gate.js'
import { freshSchema, postgresUnreachable } from '../services/postgres.js'
import { dropKeys, redisUnreachable, redisUrl } from '../services/redis.js'
import { client } from './client.js'
import { freePort, startCli, tempDataDir, type ServerProcess } from './process.js'

const PASSWORD = 'correct horse battery staple'
const NEW_PASSWORD = 'another horse, another battery'

const unreachable = (await postgresUnreachable()) ?? (await redisUnreachable())

if (serviceAvailable('Postgres and Redis for three nodes', unreachable)) {
  describe('three nodes sharing Postgres and Redis', () => {
    let nodes: ServerProcess[] = []
    let drop: () => Promise<void>
    let urls: string[] = []
    const prefix = `latchkey-test-${randomBytes(4).toString('hex')}:`

    before(async () => {
      const schema = await freshSchema('cluster')
      drop = () => schema.drop()
      const ports = await Promise.all([freePort(), freePort(), freePort()])
      urls = ports.map((port) => `http://localhost:${port}`)
      const shared = {
        DATABASE_URL: schema.url,
        REDIS_URL: redisUrl,
        LATCHKEY_REDIS_PREFIX: prefix,
        LATCHKEY_SECRET: randomBytes(32).toString('base64url'),
        LATCHKEY_ISSUER: urls[0]!,
        LATCHKEY_TRUSTED_ORIGINS: urls.join(','),
      }
      // Started together against an empty schema: they must agree on one migration.
      nodes = await Promise.all(
        ports.map(async (port) =>
          startCli({ ...shared, PORT: String(port), LATCHKEY_DATA_DIR: await tempDataDir() }),
        ),
      )
    })
    after(async () => {
      await Promise.all(nodes.map((node) => node.stop()))
      await drop()
      await dropKeys(prefix)
    })

    /** A browser on node A's page, whose requests may go to any node. */
    async function signedIn(email: string) {
      const browser = client(urls[0]!)
      assert.equal(
        (await browser.send('/auth/signup', { body: { email, password: PASSWORD } })).status,
        201,
      )
      const login = await browser.send('/auth/login', {
        body: { email, password: PASSWORD, mode: 'session' },
      })
      assert.equal(login.status, 200)
      return browser
    }

    /**
     * The status once the node refuses, or the last one after 2 s. The bus delivers in
     * milliseconds (`npm run bench` measures it), far inside the caches' own 60 s bound,
     * so a fact that never arrived cannot pass for one that is late.
     */
    async function soon(status: () => Promise<number>): Promise<number> {
      const deadline = Date.now() + 2_000
      let last = await status()
      while (last !== 401 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10))
        last = await status()
      }
      return last
    }

    const sessionOn = async (browser: ReturnType<typeof client>, url: string) =>
      (await browser.send(`${url}/auth/session`)).status

    it('every node started, reports the Redis bus, and the schema was migrated once', async () => {
      for (const url of urls) {
        // A node trusts its bus once its own first probe has made the round trip; on a
        // loaded machine that may come a moment after it started listening.
        let checks: unknown
        const busUp = async () => {
          checks = (await client(url).send('/healthz')).json?.['checks']
          return (checks as { bus?: unknown } | undefined)?.bus === 'up'
        }
        await eventually(busUp, 5000).catch(() => undefined)
        assert.deepEqual(checks, { store: 'ok', bus: 'up', transport: 'redis' })
      }
    })

    it('a session made through A is valid on B and C; a logout through C is refused on A and B', async () => {
      const browser = await signedIn('one@example.com')
      for (const url of urls) assert.equal(await sessionOn(browser, url), 200)
      const out = await browser.send(`${urls[2]}/auth/logout`, { body: { scope: 'local' } })
      assert.equal(out.status, 204)
      assert.equal(await soon(() => sessionOn(browser, urls[0]!)), 401)
      assert.equal(await soon(() => sessionOn(browser, urls[1]!)), 401)
    })

    it('"log out everywhere" through C kills every login of the user on A and B', async () => {
      const first = await signedIn('everywhere@example.com')
      const second = client(urls[1]!)
      await second.send('/auth/login', {
        body: { email: 'everywhere@example.com', password: PASSWORD, mode: 'session' },
      })
      for (const url of urls) {
        assert.equal(await sessionOn(first, url), 200)
        assert.equal(await sessionOn(second, url), 200)
      }
      const out = await first.send(`${urls[2]}/auth/logout`, { body: { scope: 'global' } })
      assert.equal(out.status, 204)
      for (const url of urls.slice(0, 2)) {
        assert.equal(await soon(() => sessionOn(first, url)), 401)
        assert.equal(await soon(() => sessionOn(second, url)), 401)
      }
    })

    it('a password change through C kills the other logins and access tokens on A and B', async () => {
      const email = 'password@example.com'
      const changer = await signedIn(email)
      const other = client(urls[0]!)
      await other.send('/auth/login', { body: { email, password: PASSWORD, mode: 'session' } })
      const token = await client(urls[0]!).send('/auth/login', {
        body: { email, password: PASSWORD, mode: 'token' },
      })
      const accessToken = token.json?.['access_token'] as string
      const bearerOn = async (url: string) =>
        (
          await fetch(`${url}/auth/session`, {
            headers: { authorization: `Bearer ${accessToken}` },
          })
        ).status
      for (const url of urls) {
        assert.equal(await sessionOn(other, url), 200)
        assert.equal(await bearerOn(url), 200)
      }
      const changed = await changer.send(`${urls[2]}/auth/password`, {
        body: { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
      })
      assert.equal(changed.status, 200)
      for (const url of urls.slice(0, 2)) {
        assert.equal(await soon(() => sessionOn(other, url)), 401)
        assert.equal(await soon(() => bearerOn(url)), 401)
      }
      assert.equal(await sessionOn(changer, urls[0]!), 200)
    })

    it('a Bearer logout through C denies that access token on A and B', async () => {
      const email = 'bearer@example.com'
      await signedIn(email)
      const token = await client(urls[0]!).send('/auth/login', {
        body: { email, password: PASSWORD, mode: 'token' },
      })
      const authorization = `Bearer ${token.json?.['access_token'] as string}`
      for (const url of urls) {
        assert.equal(
          (await fetch(`${url}/auth/session`, { headers: { authorization } })).status,
          200,
        )
      }
      const out = await fetch(`${urls[2]}/auth/logout`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json' },
        body: '{}',
      })
      assert.equal(out.status, 204)
      for (const url of urls.slice(0, 2)) {
        const check = () => fetch(`${url}/auth/session`, { headers: { authorization } })
        assert.equal(await soon(async () => (await check()).status), 401)
        assert.equal(((await (await check()).json()) as { error: string }).error, 'token_revoked')
      }
    })
  })
}
