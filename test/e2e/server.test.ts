import assert from 'node:assert/strict'
import { once } from 'node:events'
import { readFile, stat } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { client } from './client.js'
import { freePort, runCli, startCli, tempDataDir, type ServerProcess } from './process.js'

const PASSWORD = 'correct horse battery staple'

describe('the standalone server, as a new user runs it', () => {
  let dataDir: string
  let server: ServerProcess
  let base: string

  before(async () => {
    dataDir = await tempDataDir()
    const port = await freePort()
    server = await startCli({ PORT: String(port), LATCHKEY_DATA_DIR: dataDir })
    base = server.url
  })
  after(() => server.stop())

  it('generates a development secret into the data folder, readable by the owner only', async () => {
    assert.match(server.output(), /LATCHKEY_SECRET is not set/)
    const info = await stat(join(dataDir, 'secret'))
    assert.equal(info.mode & 0o077, 0)
    assert.ok((await readFile(join(dataDir, 'secret'), 'utf8')).trim().length >= 32)
    const secret = (await readFile(join(dataDir, 'secret'), 'utf8')).trim()
    assert.ok(!server.output().includes(secret), 'the secret is never printed')
  })

  it('runs signup → login → session → sessions → revoke → password change', async () => {
    const email = `e2e-${Date.now()}@example.com`
    const alice = client(base)
    assert.equal(
      (await alice.send('/auth/signup', { body: { email, password: PASSWORD } })).status,
      201,
    )
    const login = await alice.send('/auth/login', {
      body: { email, password: PASSWORD, mode: 'session' },
    })
    assert.equal(login.status, 200)
    assert.match(login.headers.get('set-cookie') ?? '', /^__Host-latchkey-session=.*HttpOnly/)

    const laptop = client(base)
    await laptop.send('/auth/login', { body: { email, password: PASSWORD, mode: 'session' } })
    const phone = client(base)
    await phone.send('/auth/login', { body: { email, password: PASSWORD, mode: 'session' } })

    const session = await alice.send('/auth/session')
    assert.equal(session.status, 200)
    const listed = await alice.send('/auth/sessions')
    const sessions = (listed.json as { sessions: { id: string; current: boolean }[] }).sessions
    assert.equal(sessions.length, 3)
    assert.equal(sessions.filter((s) => s.current).length, 1)

    const laptopId = ((await laptop.send('/auth/session')).json as { session: { id: string } })
      .session.id
    assert.equal((await alice.send(`/auth/sessions/${laptopId}`, { method: 'DELETE' })).status, 204)
    const refused = await laptop.send('/auth/session')
    assert.equal(refused.status, 401)
    assert.equal(refused.json?.['error'], 'session_revoked')
    assert.ok(refused.headers.get('www-authenticate')?.startsWith('Bearer'))

    const oldCookie = alice.cookie
    const change = await alice.send('/auth/password', {
      method: 'POST',
      body: { currentPassword: PASSWORD, newPassword: 'another long passphrase' },
    })
    assert.equal(change.status, 200)
    assert.notEqual(alice.cookie, oldCookie, 'the caller continues on a new session id')
    assert.equal((await phone.send('/auth/session')).status, 401)
    assert.equal((await alice.send('/auth/session', { cookie: oldCookie })).status, 401)
    assert.equal((await alice.send('/auth/session')).status, 200)
    const relogin = client(base)
    const stale = await relogin.send('/auth/login', { body: { email, password: PASSWORD } })
    assert.equal(stale.status, 401)
    assert.equal(stale.json?.['error'], 'invalid_credentials')
  })

  it('answers /healthz with the store state', async () => {
    const health = await client(base).send('/healthz')
    assert.deepEqual(health.json, {
      status: 'ok',
      checks: { store: 'ok', bus: 'local', transport: 'memory' },
    })
  })
})

describe('sessions survive a restart', () => {
  it('keeps users, sessions and CSRF tokens across a restart on the same data folder', async () => {
    const dataDir = await tempDataDir()
    const env = { PORT: String(await freePort()), LATCHKEY_DATA_DIR: dataDir }
    let server = await startCli(env)
    const browser = client(server.url)
    await browser.send('/auth/signup', {
      body: { email: 'restart@example.com', password: PASSWORD },
    })
    await browser.send('/auth/login', {
      body: { email: 'restart@example.com', password: PASSWORD },
    })
    await server.stop()
    server = await startCli(env)
    try {
      assert.doesNotMatch(server.output(), /LATCHKEY_SECRET is not set/)
      assert.equal((await browser.send('/auth/session')).status, 200)
      const logout = await browser.send('/auth/logout', {
        method: 'POST',
        body: { scope: 'local' },
      })
      assert.equal(logout.status, 204)
    } finally {
      await server.stop()
    }
  })
})

describe('stopping', () => {
  it('lets an idle server stop at once on SIGTERM, exiting 0', async () => {
    const server = await startCli({
      PORT: String(await freePort()),
      LATCHKEY_DATA_DIR: await tempDataDir(),
    })
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200)
    const started = Date.now()
    assert.equal(await server.stop(), 0)
    assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`)
    assert.match(server.output(), /latchkey stopping/)
  })

  it('cuts a request that does not finish within LATCHKEY_DRAIN_TIMEOUT, then exits 0', async () => {
    const server = await startCli({
      PORT: String(await freePort()),
      LATCHKEY_DATA_DIR: await tempDataDir(),
      LATCHKEY_DRAIN_TIMEOUT: '1',
    })
    // A request whose headers never end: without the timeout, the stop would wait for
    // the server's headers timeout (a minute).
    const { hostname, port } = new URL(server.url)
    const socket = connect({
      host: hostname === 'localhost' ? '127.0.0.1' : hostname,
      port: Number(port),
    })
    await once(socket, 'connect')
    socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n')
    // Cut is cut, by FIN or by RST: `once(socket, 'close')` would reject on the reset's
    // ECONNRESET, which the stop's timing decides.
    socket.on('error', () => {})
    const cut = new Promise((resolve) => socket.once('close', resolve))
    const started = Date.now()
    assert.equal(await server.stop(), 0)
    const took = Date.now() - started
    assert.ok(took >= 900 && took < 5_000, `took ${took} ms`)
    await cut
  })

  it('stops the same way on a signal that comes while it starts', async () => {
    // A supervisor may signal a server that has not finished starting; the signal must
    // not find it without its handlers (node's default dies at once, without a drain).
    const result = await runCli(
      ['start'],
      { PORT: String(await freePort()), LATCHKEY_DATA_DIR: await tempDataDir() },
      { when: /revocation bus:/, send: 'SIGTERM' },
    )
    assert.equal(result.code, 0, result.stdout + result.stderr)
    assert.match(result.stdout, /latchkey stopping/)
  })
})

describe('start-up configuration', () => {
  it('refuses to start in production without LATCHKEY_SECRET', async () => {
    const result = await runCli(['start'], {
      NODE_ENV: 'production',
      PORT: String(await freePort()),
      LATCHKEY_DATA_DIR: await tempDataDir(),
    })
    assert.equal(result.code, 1)
    assert.match(result.stderr, /LATCHKEY_SECRET is required when NODE_ENV=production/)
  })

  it('refuses a short LATCHKEY_SECRET without printing it', async () => {
    const result = await runCli(['start'], {
      LATCHKEY_SECRET: 'short-secret-value',
      LATCHKEY_DATA_DIR: await tempDataDir(),
    })
    assert.equal(result.code, 1)
    assert.match(result.stderr, /LATCHKEY_SECRET must have at least 32 bytes/)
    assert.doesNotMatch(result.stderr + result.stdout, /short-secret-value/)
  })

  it('names the variable that is wrong', async () => {
    const result = await runCli(['start'], {
      PORT: 'eighty',
      LATCHKEY_DATA_DIR: await tempDataDir(),
    })
    assert.equal(result.code, 1)
    assert.match(result.stderr, /PORT must be a whole number/)
  })

  it('migrates with `latchkey migrate`, once', async () => {
    const env = { LATCHKEY_DATA_DIR: await tempDataDir() }
    const first = await runCli(['migrate'], env)
    assert.equal(first.code, 0, first.stderr)
    assert.match(first.stdout, /Applied: 0001/)
    const second = await runCli(['migrate'], env)
    assert.equal(second.code, 0)
    assert.match(second.stdout, /Nothing to migrate/)
  })
})
