import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { Agent, request } from 'node:http'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { dropKeys } from '../test/services/redis.js'

/** The Postgres and Redis the benchmarks use (BENCH_POSTGRES_URL, BENCH_REDIS_URL). */
export const POSTGRES_URL =
  process.env['BENCH_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'
export const REDIS_URL = process.env['BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379'

/** Shared by every node of one benchmark deployment. */
export const ISSUER = 'http://latchkey.bench'
export const SECRET = 'bench-only master secret, 32+ bytes long, never used elsewhere'

/** Postgres schema and Redis key prefix of one benchmark run; `drop()` removes both. */
export interface Scratch {
  schema: string
  databaseUrl: string
  redisPrefix: string
  drop(): Promise<void>
}

async function withPostgres(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000 })
  client.on('error', () => {})
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

/** A fresh Postgres schema and a unique Redis prefix, so runs never see each other's data. */
export async function scratch(label: string): Promise<Scratch> {
  const id = `${label}_${randomBytes(4).toString('hex')}`
  const schema = `latchkey_bench_${id}`
  await withPostgres(`create schema "${schema}"`)
  const url = new URL(POSTGRES_URL)
  url.searchParams.set('options', `-c search_path=${schema}`)
  const redisPrefix = `latchkey-bench:${id}:`
  return {
    schema,
    databaseUrl: url.toString(),
    redisPrefix,
    async drop() {
      await withPostgres(`drop schema if exists "${schema}" cascade`)
      await dropKeys(redisPrefix, REDIS_URL)
    },
  }
}

/** A server in its own process and what it said about itself when ready. */
export interface Spawned<T> {
  child: ChildProcess
  info: T
}

// Servers still running when the driver exits (a failed run) are stopped with it.
const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/**
 * Starts `bench/servers/<script>` in its own Node process; resolves with the JSON line it
 * prints when it listens. `launcher`: a command that runs Node (`valgrind …`), if any.
 */
export async function spawnJson<T extends { port: number }>(
  script: string,
  env: Record<string, string>,
  launcher: readonly string[] = [],
): Promise<Spawned<T>> {
  const path = fileURLToPath(new URL(`servers/${script}`, import.meta.url))
  const [command, ...args] = [...launcher, process.execPath, '--import', 'tsx', path]
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  })
  running.add(child)
  child.once('exit', () => running.delete(child))
  const info = await new Promise<T>((resolve, reject) => {
    let output = ''
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const line = output.split('\n')[0]
      if (output.includes('\n') && line !== undefined) {
        child.stdout?.off('data', onData)
        try {
          resolve(JSON.parse(line) as T)
        } catch {
          reject(new Error(`${script} printed ${line}`))
        }
      }
    }
    child.stdout?.on('data', onData)
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)))
  })
  child.stdout?.resume()
  return { child, info }
}

/** What a Latchkey node of `servers/latchkey-app.ts` reports when ready. */
export interface LatchkeyNode {
  port: number
  redisLayer: boolean
  /** `local` when no Redis bus is available: correct for one node only. */
  bus: string
}

/** One Latchkey node over the scratch schema, with Redis when `redis` is set. */
export function spawnLatchkey(
  space: Scratch,
  options: { redis: boolean; launcher?: readonly string[] },
): Promise<Spawned<LatchkeyNode>> {
  return spawnJson<LatchkeyNode>(
    'latchkey-app.ts',
    {
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: space.databaseUrl,
      ...(options.redis ? { REDIS_URL, BENCH_REDIS_PREFIX: space.redisPrefix } : { REDIS_URL: '' }),
      LATCHKEY_SECRET: SECRET,
      LATCHKEY_ISSUER: ISSUER,
      LATCHKEY_TRUSTED_ORIGINS: ISSUER,
    },
    options.launcher,
  )
}

/** One HTTP answer, its body read whole. */
export interface Reply {
  status: number
  body: string
  setCookie: string[]
}

export type Send = (
  method: string,
  path: string,
  options?: { body?: unknown; headers?: Record<string, string> },
) => Promise<Reply>

/** A keep-alive client of one server. */
export function client(port: number, sockets = 8): Send & { close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets })
  const send: Send = (method, path, options = {}) =>
    new Promise((resolve, reject) => {
      const payload = options.body === undefined ? undefined : JSON.stringify(options.body)
      const headers: Record<string, string | number> = { ...options.headers }
      if (payload !== undefined) {
        headers['content-type'] = 'application/json'
        headers['content-length'] = Buffer.byteLength(payload)
      }
      const req = request({ host: '127.0.0.1', port, method, path, agent, headers }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            setCookie: res.headers['set-cookie'] ?? [],
          }),
        )
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(payload)
    })
  return Object.assign(send, { close: () => agent.destroy() })
}

/** Headers of a cookie-authenticated unsafe request from a page of the issuer. */
export function browserHeaders(cookie: string, csrfToken: string): Record<string, string> {
  return { cookie, 'x-csrf-token': csrfToken, origin: ISSUER, 'sec-fetch-site': 'same-origin' }
}

/** A cookie-mode login: the cookie header to send back and the CSRF token. */
export interface CookieLogin {
  cookie: string
  csrfToken: string
  sessionId: string
  userId: string
}

/** A token-mode login. */
export interface TokenLogin {
  accessToken: string
  refreshToken: string
  loginId: string
  userId: string
}

function expect(reply: Reply, status: number, what: string): void {
  if (reply.status !== status) throw new Error(`${what}: ${reply.status} ${reply.body}`)
}

export async function signUp(send: Send, email: string, password: string): Promise<void> {
  const reply = await send('POST', '/auth/signup', {
    body: { email, password },
    headers: { origin: ISSUER },
  })
  expect(reply, 201, 'signup')
}

export async function cookieLogin(
  send: Send,
  email: string,
  password: string,
): Promise<CookieLogin> {
  const reply = await send('POST', '/auth/login', {
    body: { email, password, mode: 'session' },
    headers: { origin: ISSUER },
  })
  expect(reply, 200, 'login')
  const cookie = reply.setCookie.find((each) => each.startsWith('__Host-'))?.split(';')[0]
  if (cookie === undefined) throw new Error('login: no session cookie')
  const body = JSON.parse(reply.body) as {
    csrfToken: string
    session: { id: string }
    user: { id: string }
  }
  return { cookie, csrfToken: body.csrfToken, sessionId: body.session.id, userId: body.user.id }
}

export async function tokenLogin(send: Send, email: string, password: string): Promise<TokenLogin> {
  const reply = await send('POST', '/auth/login', { body: { email, password, mode: 'token' } })
  expect(reply, 200, 'token login')
  const body = JSON.parse(reply.body) as {
    access_token: string
    refresh_token: string
    user: { id: string }
  }
  const claims = JSON.parse(
    Buffer.from(body.access_token.split('.')[1] ?? '', 'base64url').toString(),
  ) as { sid: string }
  return {
    accessToken: body.access_token,
    refreshToken: body.refresh_token,
    loginId: claims.sid,
    userId: body.user.id,
  }
}

export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
  })
}

/** The 1-minute load average: above the core count, something else competes for the CPU. */
export function loadAverage(): string {
  return `load average ${loadavg()[0]!.toFixed(2)}`
}
