// Starts each example as its own process, the way its README says, and drives it over
// HTTP. `latchkey/*` imports resolve to the sources through examples/tsconfig.json, so
// the examples are proven without a build of dist/.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { freePort, tempDataDir } from './e2e/process.js'
import { PASSWORD } from './harness.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

interface Running {
  url: string
  stop(): Promise<void>
}

async function startExample(name: string, env: Record<string, string> = {}): Promise<Running> {
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', join('examples', name, 'server.ts')], {
    cwd: ROOT,
    env: {
      PATH: process.env['PATH'] ?? '',
      TSX_TSCONFIG_PATH: join(ROOT, 'examples', 'tsconfig.json'),
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_FILE: join(await tempDataDir(), 'example.db'),
      LATCHKEY_ISSUER: `http://127.0.0.1:${port}`,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /listening on (\S+)/.exec(output)
      if (match !== null) resolve(match[1]!)
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('close', (code) => reject(new Error(`${name} exited with ${code}: ${output}`)))
  })
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return
      const closed = new Promise((resolve) => child.on('close', resolve))
      child.kill('SIGTERM')
      await closed
    },
  }
}

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
})

describe('examples', { concurrency: true }, () => {
  const running: Running[] = []
  after(() => Promise.all(running.map((server) => server.stop())))

  it('express-sessions: cookie sessions with CSRF in front of the notes API', async () => {
    const server = await startExample('express-sessions')
    running.push(server)
    const browser = { origin: server.url, 'sec-fetch-site': 'same-origin' }
    const credentials = { email: 'ada@example.com', password: PASSWORD }
    const signup = await fetch(`${server.url}/auth/signup`, json(credentials, browser))
    assert.equal(signup.status, 201)
    const login = await fetch(
      `${server.url}/auth/login`,
      json({ ...credentials, mode: 'session' }, browser),
    )
    assert.equal(login.status, 200)
    const { csrfToken } = (await login.json()) as { csrfToken: string }
    const cookie = login.headers.getSetCookie()[0]!.split(';')[0]!

    assert.equal((await fetch(`${server.url}/api/notes`)).status, 401)
    const empty = await fetch(`${server.url}/api/notes`, { headers: { cookie } })
    assert.deepEqual(await empty.json(), { notes: [] })
    const forged = await fetch(
      `${server.url}/api/notes`,
      json({ text: 'hi' }, { ...browser, cookie }),
    )
    assert.equal(forged.status, 403)
    const added = await fetch(
      `${server.url}/api/notes`,
      json({ text: 'hi' }, { ...browser, cookie, 'x-csrf-token': csrfToken }),
    )
    assert.equal(added.status, 201)
    assert.deepEqual(await added.json(), { notes: ['hi'] })
  })

  it('fastify-bearer issues tokens that hono-verify accepts', async () => {
    const issuer = await startExample('fastify-bearer')
    running.push(issuer)
    const verifier = await startExample('hono-verify', { LATCHKEY_ISSUER: issuer.url })
    running.push(verifier)

    const credentials = { email: 'grace@example.com', password: PASSWORD }
    assert.equal((await fetch(`${issuer.url}/auth/signup`, json(credentials))).status, 201)
    const login = await fetch(`${issuer.url}/auth/login`, json({ ...credentials, mode: 'token' }))
    assert.equal(login.status, 200)
    const { access_token: token, user } = (await login.json()) as {
      access_token: string
      user: { id: string }
    }
    const authorization = `Bearer ${token}`

    const me = await fetch(`${issuer.url}/api/me`, { headers: { authorization } })
    assert.deepEqual(await me.json(), { id: user.id, email: credentials.email })
    const task = await fetch(`${issuer.url}/api/tasks`, json({ title: 'ship' }, { authorization }))
    assert.equal(task.status, 201)
    assert.equal((await fetch(`${issuer.url}/api/me`)).status, 401)

    const whoami = await fetch(`${verifier.url}/api/whoami`, { headers: { authorization } })
    assert.equal(whoami.status, 200)
    assert.equal(((await whoami.json()) as { sub: string }).sub, user.id)
    const refused = await fetch(`${verifier.url}/api/whoami`, {
      headers: { authorization: `${authorization.slice(0, -4)}AAAA` },
    })
    assert.equal(refused.status, 401)
    assert.equal(((await refused.json()) as { error: string }).error, 'invalid_token')
  })
})
