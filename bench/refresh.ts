import { mkdtemp, rm } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { scratch } from './cluster.js'
import { load, machine, percentile, spawnServer, stop } from './load.js'

const CLIENTS = 50
const WARMUP_MS = 1_000
const MEASURE_MS = 5_000
const EMAIL = 'bench@example.com'
const PASSWORD = 'correct horse battery staple, bench edition'

interface Reply {
  status: number
  body: string
}

/** One keep-alive connection per simulated client: the driver must not be the bottleneck. */
function client(
  port: number,
): (method: 'GET' | 'POST', path: string, body?: unknown) => Promise<Reply> {
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS })
  return (method, path, body) =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body)
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method,
          path,
          agent,
          headers:
            payload === undefined
              ? {}
              : {
                  'content-type': 'application/json',
                  'content-length': Buffer.byteLength(payload),
                },
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
          )
          res.on('error', reject)
        },
      )
      req.on('error', reject)
      req.end(payload)
    })
}

interface DriveResult {
  perSecond: number
  p50Ms: number
  p99Ms: number
  errors: number
  /** Non-200 answers by status (0: no answer at all). */
  codes: Map<number, number>
  /** The first exception a request threw (counted under status 0), if any. */
  firstError?: string
}

/**
 * `CLIENTS` loops, each sending its next request only after the previous answer
 * (sequential per client, concurrent across clients). The first `WARMUP_MS` are run but
 * not counted; `step(i)` is client i's request and says whether it succeeded.
 */
async function drive(step: (index: number) => Promise<number>): Promise<DriveResult> {
  const start = performance.now()
  const measureFrom = start + WARMUP_MS
  const end = measureFrom + MEASURE_MS
  const latencies: number[] = []
  const codes = new Map<number, number>()
  let errors = 0
  let firstError: string | undefined
  const loop = async (index: number) => {
    while (performance.now() < end) {
      const sent = performance.now()
      let status: number
      try {
        status = await step(index)
      } catch (error) {
        status = 0
        firstError ??= error instanceof Error ? error.message : String(error)
      }
      const done = performance.now()
      if (sent < measureFrom || done > end) continue
      latencies.push(done - sent)
      if (status !== 200) {
        errors += 1
        codes.set(status, (codes.get(status) ?? 0) + 1)
      }
    }
  }
  await Promise.all(Array.from({ length: CLIENTS }, (_, index) => loop(index)))
  latencies.sort((a, b) => a - b)
  return {
    perSecond: (latencies.length - errors) / (MEASURE_MS / 1000),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    errors,
    codes,
    firstError,
  }
}

function refreshTokenOf(reply: Reply, what: string): string {
  const token = (JSON.parse(reply.body) as { refresh_token?: unknown }).refresh_token
  if (reply.status !== 200 || typeof token !== 'string') {
    throw new Error(`${what}: ${reply.status} ${reply.body}`)
  }
  return token
}

/**
 * Refresh-token rotation over HTTP against a real server on SQLite, then on Postgres: 50 clients, each with
 * its own token-mode login, each rotating its own chain (so reuse detection never fires).
 * `GET /healthz` through the same driver is the baseline that shows the driver is not
 * the bottleneck.
 */
export async function runRefreshBench(): Promise<void> {
  console.log(
    `\n## Refresh-token rotation: ${CLIENTS} concurrent clients, each rotating its own chain, server in its own process`,
  )
  console.log(machine())
  const rows: { variant: string; result: DriveResult }[] = []
  const dir = await mkdtemp(join(tmpdir(), 'latchkey-bench-'))
  try {
    await measure(join(dir, 'bench.sqlite'), 'SQLite', rows, true)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  const postgres = await scratch('refresh')
  try {
    await measure(postgres.databaseUrl, 'Postgres (same machine)', rows, false)
  } finally {
    await postgres.drop()
  }

  const baseline = rows[0]!.result.perSecond
  console.log('| variant | req/s | ratio to /healthz | p50 ms | p99 ms | errors |')
  console.log('|---|---:|---:|---:|---:|---:|')
  for (const { variant, result } of rows) {
    console.log(
      `| ${variant} | ${Math.round(result.perSecond)} | ${(result.perSecond / baseline).toFixed(2)} | ${Number.isNaN(result.p50Ms) ? '–' : result.p50Ms.toFixed(2)} | ${result.p99Ms.toFixed(2)} | ${result.errors} |`,
    )
  }
  for (const { variant, result } of rows) {
    for (const [status, count] of result.codes) {
      console.log(`${variant}: ${count} answers with status ${status === 0 ? 'none' : status}`)
    }
    if (result.firstError !== undefined)
      console.log(`${variant}: first error: ${result.firstError}`)
  }
}

/** Rotations per second against one server on `database`; the /healthz baselines once. */
async function measure(
  database: string,
  label: string,
  rows: { variant: string; result: DriveResult }[],
  baselines: boolean,
): Promise<void> {
  const { port, child } = await spawnServer('latchkey-server.ts', [database])
  try {
    const send = client(port)
    const signup = await send('POST', '/auth/signup', { email: EMAIL, password: PASSWORD })
    if (signup.status !== 201) throw new Error(`signup: ${signup.status} ${signup.body}`)
    const tokens = await Promise.all(
      Array.from({ length: CLIENTS }, async () =>
        refreshTokenOf(
          await send('POST', '/auth/login', { email: EMAIL, password: PASSWORD, mode: 'token' }),
          'login',
        ),
      ),
    )

    if (baselines) {
      const healthz = await drive(async () => (await send('GET', '/healthz')).status)
      rows.push({ variant: 'GET /healthz (driver baseline)', result: healthz })
      // The same route under autocannon: if our driver were the bottleneck, this would be faster.
      const cannon = await load(`http://127.0.0.1:${port}/healthz`, { connections: CLIENTS })
      rows.push({
        variant: 'GET /healthz (autocannon, for reference)',
        result: {
          perSecond: cannon.requestsPerSecond,
          p50Ms: Number.NaN,
          p99Ms: cannon.p99Ms,
          errors: cannon.non2xx,
          codes: new Map(),
        },
      })
    }

    const refresh = await drive(async (index) => {
      const reply = await send('POST', '/auth/refresh', { refresh_token: tokens[index] })
      if (reply.status !== 200) return reply.status
      const next = refreshTokenOf(reply, 'refresh')
      if (next === tokens[index]) throw new Error('refresh answered the presented token')
      tokens[index] = next
      return reply.status
    })
    rows.push({ variant: `POST /auth/refresh, ${label}`, result: refresh })
  } finally {
    await stop(child)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runRefreshBench()
