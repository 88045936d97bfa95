import autocannon from 'autocannon'
import { createSigner } from 'fast-jwt'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import {
  ISSUER,
  REDIS_URL,
  client,
  loadAverage,
  cookieLogin,
  scratch,
  signUp,
  spawnJson,
  spawnLatchkey,
  stopChild,
  tokenLogin,
  type Scratch,
  type Send,
} from './cluster.js'
import { callgrind, callgrindAvailable, type Callgrind } from './callgrind.js'
import { machine, percentile } from './load.js'
import {
  phaseRatios,
  runWrk,
  wrkAvailable,
  type WrkChain,
  type WrkRequests,
  type WrkRun,
} from './wrk.js'

const CONNECTIONS = 50
/**
 * Under autocannon (and callgrind) each protected route is measured ROUNDS times for
 * MEASURE_SECONDS, each run between two of its unprotected twin, and the median of the
 * rounds is reported. On a small virtual machine throughput swings by 10–30 % from one
 * few-second stretch to the next; short runs, alternated many times, and each compared
 * with its unprotected neighbours, keep most of the swing out of the ratio (see
 * `serverRows`).
 */
const MEASURE_SECONDS = 1
const ROUNDS = 12
/**
 * Under wrk a protected route and its twin alternate inside one run instead: phases of
 * PHASE_MS, the answers counted per phase, each of the route's phases set against the
 * twin's on either side (`phaseRatios`). Some 90 pairs of phases in a row, each well
 * inside one of the machine's swings. Two phases take 260 ms, which does not divide a
 * second: what a server does once a second (the bus's probe, timers) falls in either by
 * turns. With 100 ms phases it fell in the same one each time, and the unprotected route
 * read 1.01–1.03x of itself; with these, 0.99–1.00x in three tries and 0.97–1.04x over
 * six full runs: one row is good to some ±0.04, the machine's drift being slower than a
 * phase.
 */
const PHASE_MS = 130
const INTERLEAVED_SECONDS = 24
/** Before a server's first counted row, each of its routes runs this long uncounted. */
const SERVER_WARMUP_SECONDS = 2
/**
 * Under callgrind (see `callgrind.ts`) runs are counted in requests: each route's warm-up,
 * then CALLGRIND_ROUNDS runs alternated as above. Counts do not swing with the machine;
 * a garbage collection landing in one run still moves it, hence several rounds.
 */
const CALLGRIND_WARMUP_REQUESTS = 6000
const CALLGRIND_REQUESTS = 2000
const CALLGRIND_ROUNDS = 6
/**
 * Under callgrind a request waits its turn behind 49 others on a server some 50 times
 * slower, and behind a JIT compilation now and then: autocannon's 10 s default timeout
 * cut off a few of them (as errors, which void the run).
 */
const CALLGRIND_TIMEOUT_SECONDS = 120
/** Distinct credentials spread over the connections (sessions, access tokens). */
const CREDENTIALS = 10
/** Hybrid: each connection refreshes through POST /auth/refresh once per this many requests. */
// One request a second over a 10-minute access token.
const REFRESH_EVERY = 600
/**
 * Hybrid: before its counted runs, a warm-up refreshes ten times as often. At one refresh
 * per 600 requests, the server's own warm-up runs the refresh path a hundred times or so,
 * its modules still loading and its code not yet compiled; the row is meant to measure a
 * server that has been refreshing for a while.
 */
const WARMUP_REFRESH_EVERY = 60
const PASSWORD = 'correct horse battery staple, bench edition'

interface Outgoing {
  method: 'GET' | 'POST'
  path: string
  headers?: Record<string, string>
  body?: string
}

/** One request of a connection; `state` is that connection's own, kept between requests. */
type Next = (state: Record<string, unknown>) => Outgoing

interface Row {
  generator: Generator
  server: string
  route: string
  rps: number
  p99: number
  /** Answers that were not 2xx, plus connection errors and timeouts. */
  failures: number
  requests: number
  /** The unprotected route under the same requests (median req/s), for a protected row. */
  twinRps?: number
  /** Per round, this row's req/s over its unprotected twin's around it. */
  ratios?: number[]
}

/** A server to load: its port, and its callgrind session when it runs under one. */
interface Target {
  port: number
  callgrind?: Callgrind
}

const targetOf = (port: number, counter?: Callgrind): Target =>
  counter === undefined ? { port } : { port, callgrind: counter }

/** One measured run of `route` (after the warm-up of its server when `warmup`). */
async function measure(
  target: Target,
  route: Requests,
  generator: Generator,
  warmup = false,
): Promise<Run> {
  const seconds = warmup ? SERVER_WARMUP_SECONDS : MEASURE_SECONDS
  if (generator === 'wrk') return measureWrk(target.port, route, seconds)
  if (generator === 'callgrind') return measureCallgrind(target, route, warmup)
  const result = await runAutocannon(target.port, route, { duration: seconds })
  return {
    rps: result.requests.total / result.duration,
    p99: result.latency.p99,
    failures: result.non2xx + result.errors + result.timeouts,
    requests: result.requests.total,
  }
}

/**
 * Runs autocannon in this process (the servers are in theirs) with a per-connection
 * request function, for a duration or a number of requests (with how long to wait for
 * each). Every row goes through the same `setupRequest` and `onResponse` path, so the
 * driver's own cost is the same for all.
 */
async function runAutocannon(
  port: number,
  { next, onResponse, afterRun }: Requests,
  length: { duration: number } | { amount: number; timeout: number },
): Promise<autocannon.Result> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    ...length,
    initialContext: {},
    // autocannon clears `context` after each pass over `requests`; `state` is cloned
    // once per connection with the rest of the options, so it lives as long as it.
    requests: [
      {
        state: {},
        setupRequest: (request: autocannon.Request, context: Record<string, unknown>) => {
          const state = (request as { state: Record<string, unknown> }).state
          context['state'] = state
          const outgoing = next(state)
          return { ...request, ...outgoing, headers: { ...request.headers, ...outgoing.headers } }
        },
        // Every row has one, so that autocannon reads every body in every row alike.
        onResponse: (status: number, body: string, context: Record<string, unknown>) =>
          onResponse?.(status, body, context['state'] as Record<string, unknown>),
      } as autocannon.Request,
    ],
  })
  await afterRun?.()
  return result
}

/**
 * The same with the server under callgrind: `rps` is then requests per 10⁹ instructions
 * of the server, so that ratios read as they do for throughput.
 */
async function measureCallgrind(target: Target, route: Requests, warmup: boolean): Promise<Run> {
  const counter = target.callgrind
  if (counter === undefined) throw new Error('callgrind: the server does not run under it')
  if (warmup) {
    await runAutocannon(target.port, route, {
      amount: CALLGRIND_WARMUP_REQUESTS,
      timeout: CALLGRIND_TIMEOUT_SECONDS,
    })
    return { rps: NaN, p99: NaN, failures: 0, requests: 0 }
  }
  const { result, instructions } = await counter.count(() =>
    runAutocannon(target.port, route, {
      amount: CALLGRIND_REQUESTS,
      timeout: CALLGRIND_TIMEOUT_SECONDS,
    }),
  )
  return {
    rps: result.requests.total / (instructions / 1e9),
    p99: NaN,
    failures: result.non2xx + result.errors + result.timeouts,
    requests: result.requests.total,
  }
}

/** The same as {@link measure} with wrk. */
async function measureWrk(
  port: number,
  { wrk, afterWrk }: Requests,
  seconds: number,
): Promise<Run> {
  const run = async (duration: number) => {
    const result = await runWrk(port, wrk(), { connections: CONNECTIONS, seconds: duration })
    await afterWrk?.(result)
    return result
  }
  const { rps, p99, failures, requests } = await run(seconds)
  return { rps, p99, failures, requests }
}

/** One run's numbers. */
type Run = Omit<Row, 'generator' | 'server' | 'route'>

/** What a run sends, and what it does with the answers. */
type Requests = Omit<Protected, 'route' | 'twin' | 'warmup'>

/** Gives each new connection one of `count` slots, round robin. */
function slots(count: number): (state: Record<string, unknown>) => number {
  let next = 0
  return (state) => {
    if (typeof state['slot'] !== 'number') state['slot'] = next++ % count
    return state['slot'] as number
  }
}

/**
 * The load generators: autocannon always, wrk when it is installed; `callgrind` is
 * autocannon against a server run under callgrind, counting instructions.
 */
type Generator = 'autocannon' | 'wrk' | 'callgrind'

/** A protected row of one server: its route label and its requests, for either generator. */
interface Protected {
  route: string
  /**
   * The same requests, credentials and all, to the unprotected route: what the row is
   * compared with, so that the ratio is the cost of the check and not of the bytes of the
   * credential, which a client sends to every route alike.
   */
  twin: Requests
  next: Next
  /** The same requests for wrk, made anew for each run (the hybrid's tokens change). */
  wrk: () => WrkRequests
  /** After each wrk run, with what it reported. */
  afterWrk?: (run: WrkRun) => Promise<void>
  onResponse?: (status: number, body: string, state: Record<string, unknown>) => void
  /** After each autocannon run: requests it abandoned in flight got no `onResponse`. */
  afterRun?: () => Promise<void>
  /** Sent uncounted before the route's own warm-up, when the route needs more of it. */
  warmup?: Requests
}

/** The middle value (the mean of the two middle ones for an even count). */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** Medians of several runs of one route; failures and requests add up. */
function combine(generator: Generator, server: string, route: string, runs: Run[]): Row {
  return {
    generator,
    server,
    route,
    rps: median(runs.map((run) => run.rps)),
    p99: median(runs.map((run) => run.p99)),
    failures: runs.reduce((sum, run) => sum + run.failures, 0),
    requests: runs.reduce((sum, run) => sum + run.requests, 0),
  }
}

/**
 * The rows of one server. Each protected route alternates with its unprotected twin (the
 * same requests to /api/open), twin first and last: ROUNDS runs of the route, each
 * compared with the mean of the twin runs just before and after it, which takes a
 * steady drift of the machine out of the ratio. The unprotected route without any
 * credential is measured first and last, for reference. Under wrk the alternation is inside
 * one run instead (`interleavedRow`), and the unprotected route is measured against itself.
 */
async function serverRows(
  server: string,
  target: Target,
  routes: Protected[],
  generator: Generator,
): Promise<Row[]> {
  const bare: Requests = {
    next: () => ({ method: 'GET', path: '/api/open' }),
    wrk: () => ({ kind: 'get', path: '/api/open', headers: [{}] }),
  }
  const run = (requests: Requests, warmup?: boolean) => measure(target, requests, generator, warmup)
  const rounds = generator === 'callgrind' ? CALLGRIND_ROUNDS : ROUNDS
  // A fresh process: JIT and pools first, on every route, before anything is counted.
  for (const requests of [
    bare,
    ...routes.flatMap((route) => [route.twin, ...(route.warmup ? [route.warmup] : []), route]),
  ]) {
    await run(requests, true)
  }
  const bareRoute = 'GET /api/open (unprotected, no credential)'
  if (generator === 'wrk') {
    const rows = [
      await interleavedRow(server, target.port, `${bareRoute}, against itself`, bare, bare),
    ]
    for (const route of routes) {
      rows.push(await interleavedRow(server, target.port, route.route, route, route.twin))
    }
    return rows
  }
  const bareRuns = [await run(bare)]
  const rows: Row[] = []
  for (const route of routes) {
    const twins = [await run(route.twin)]
    const runs: Run[] = []
    for (let round = 0; round < rounds; round++) {
      runs.push(await run(route))
      twins.push(await run(route.twin))
    }
    const row = combine(generator, server, route.route, runs)
    row.twinRps = median(twins.map((twin) => twin.rps))
    row.ratios = runs.map(
      (one, round) => one.rps / ((twins[round]!.rps + twins[round + 1]!.rps) / 2),
    )
    row.failures += twins.reduce((sum, twin) => sum + twin.failures, 0)
    rows.push(row)
  }
  bareRuns.push(await run(bare))
  return [combine(generator, server, bareRoute, bareRuns), ...rows]
}

/** One wrk run alternating `route` with `twin` (see PHASE_MS), as a row. */
async function interleavedRow(
  server: string,
  port: number,
  label: string,
  route: Requests,
  twin: Requests,
): Promise<Row> {
  const own = route.wrk()
  const other = twin.wrk()
  // The same credentials go to both; only the path (and the hybrid's refreshes) differ.
  const shape = (requests: WrkRequests) => JSON.stringify({ ...requests, path: '', every: 0 })
  if (shape(own) !== shape(other)) throw new Error(`${label}: its twin sends other requests`)
  const run = await runWrk(port, own, {
    connections: CONNECTIONS,
    seconds: INTERLEAVED_SECONDS,
    interleave: { twinPath: other.path, phaseMs: PHASE_MS },
  })
  await route.afterWrk?.(run)
  const { ratios, rps, twinRps } = phaseRatios(run.phases ?? [], PHASE_MS)
  if (ratios.length === 0) throw new Error(`${label}: wrk counted no phases`)
  const { p99, failures, requests } = run
  return { generator: 'wrk', server, route: label, rps, twinRps, ratios, p99, failures, requests }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** GETs of `path`, each connection with one of `count` header sets, round robin. */
function gets(
  path: string,
  count: number,
  headersAt: (index: number) => Record<string, string>,
): Requests {
  const slot = slots(count)
  return {
    next: (state) => ({ method: 'GET', path, headers: headersAt(slot(state)) }),
    wrk: () => ({
      kind: 'get',
      path,
      headers: Array.from({ length: count }, (_, index) => headersAt(index)),
    }),
  }
}

/** GET /api/me with one of `credentials` per connection, and its twin on /api/open. */
function getMe(route: string, credentials: Record<string, string>[]): Protected {
  const at = (index: number) => credentials[index]!
  return {
    route,
    ...gets('/api/me', credentials.length, at),
    twin: gets('/api/open', credentials.length, at),
  }
}

/** Each generator's rows of one server, on the same process. */
async function generatorRows(
  server: string,
  target: Target,
  routes: Protected[],
  generators: Generator[],
): Promise<Row[]> {
  const rows: Row[] = []
  for (const generator of generators)
    rows.push(...(await serverRows(server, target, routes, generator)))
  return rows
}

/**
 * The hybrid row: Bearer calls, and through each connection a refresh every
 * REFRESH_EVERY requests whose answer replaces that connection's tokens.
 */
function hybrid(
  chains: WrkChain[],
  send: Send,
): {
  route: Protected
  refreshes: () => number
  /** Milliseconds from sending each refresh to its answer, in the measured runs. */
  latencies: number[]
} {
  const chainSlot = slots(chains.length)
  let refreshes = 0
  const latencies: number[] = []
  // Slots whose refresh was sent and not yet answered. One abandoned at the end of a run
  // is sent again at once, inside the grace window, which answers the same child: the
  // chain goes on instead of tripping reuse detection in the next run.
  const pending = new Set<number>()
  const resend = async () => {
    for (const slot of pending) {
      const reply = await send('POST', '/auth/refresh', {
        body: { refresh_token: chains[slot]!.refreshToken },
      })
      if (reply.status !== 200) throw new Error(`refresh: ${reply.status} ${reply.body}`)
      rotate(slot, reply.body)
    }
  }
  const rotate = (slot: number, body: string) => {
    const fresh = JSON.parse(body) as { access_token: string; refresh_token: string }
    const chain = chains[slot]!
    chain.accessToken = fresh.access_token
    chain.refreshToken = fresh.refresh_token
    pending.delete(slot)
    refreshes += 1
  }
  /** Bearer calls with a refresh once per `every` requests of a connection. */
  const refreshingEvery = (every: number): Requests => ({
    next(state) {
      const slot = chainSlot(state)
      // A random start spreads the connections' refreshes over the run, and keeps their
      // rate right in runs shorter than `every` requests of a connection.
      const count = (state['count'] as number | undefined) ?? Math.floor(Math.random() * every)
      state['count'] = count + 1
      const chain = chains[slot]!
      state['refreshing'] = count % every === every - 1
      if (state['refreshing'] !== true) {
        return { method: 'GET', path: '/api/me', headers: bearer(chain.accessToken) }
      }
      pending.add(slot)
      state['sentAt'] = performance.now()
      return {
        method: 'POST',
        path: '/auth/refresh',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refresh_token: chain.refreshToken }),
      }
    },
    onResponse(status, body, state) {
      if (state['refreshing'] !== true || status !== 200) return
      if (every === REFRESH_EVERY) latencies.push(performance.now() - (state['sentAt'] as number))
      rotate(state['slot'] as number, body)
    },
    afterRun: resend,
    wrk: () => ({ kind: 'hybrid', chains, every, path: '/api/me' }),
    async afterWrk({ report }) {
      if (report === undefined) throw new Error('hybrid: wrk printed no report')
      for (const [slot, { accessToken, refreshToken, busy }] of report.chains.entries()) {
        Object.assign(chains[slot]!, { accessToken, refreshToken })
        if (busy) pending.add(slot)
      }
      refreshes += report.refreshes
      await resend()
    },
  })
  const route: Protected = {
    route: `GET /api/me, Bearer JWT + POST /auth/refresh every ${REFRESH_EVERY} requests of a connection`,
    ...refreshingEvery(REFRESH_EVERY),
    // The chains' current access tokens, without the refreshes; under wrk through the
    // same script, which reads every answer, so that wrk spends as much on both.
    twin: {
      ...gets('/api/open', chains.length, (index) => bearer(chains[index]!.accessToken)),
      wrk: () => ({ kind: 'hybrid', chains, every: 0, path: '/api/open' }),
    },
    warmup: refreshingEvery(WARMUP_REFRESH_EVERY),
  }
  return { route, refreshes: () => refreshes, latencies }
}

async function latchkeyRows(
  space: Scratch,
  generators: Generator[],
  counter?: Callgrind,
): Promise<{ rows: Row[]; config: string }> {
  const { child, info } = await spawnLatchkey(space, {
    redis: true,
    ...(counter === undefined ? {} : { launcher: counter.launcher }),
  })
  counter?.attach(child.pid!)
  try {
    const send = client(info.port)
    const email = `protected-${randomBytes(4).toString('hex')}@example.com`
    await signUp(send, email, PASSWORD)
    const many = <T>(count: number, make: () => Promise<T>) =>
      Promise.all(Array.from({ length: count }, make))
    const cookies = await many(CREDENTIALS, () => cookieLogin(send, email, PASSWORD))
    const tokens = await many(CREDENTIALS, () => tokenLogin(send, email, PASSWORD))
    // Hybrid: one chain per connection, so that no two connections present one token.
    const chains = hybrid(await many(CONNECTIONS, () => tokenLogin(send, email, PASSWORD)), send)
    const routes = [
      getMe(
        `GET /api/me, cookie session (${CREDENTIALS} sessions)`,
        cookies.map(({ cookie }) => ({ cookie })),
      ),
      getMe(
        `GET /api/me, Bearer JWT (${CREDENTIALS} tokens)`,
        tokens.map(({ accessToken }) => bearer(accessToken)),
      ),
      chains.route,
    ]
    const rows = await generatorRows('Latchkey', targetOf(info.port, counter), routes, generators)
    if (chains.refreshes() === 0) throw new Error('hybrid: no refresh took place')
    // A bus lost under load would have made the node read the store: say so.
    const health = JSON.parse((await send('GET', '/healthz')).body) as { checks: { bus: string } }
    send.close()
    const latencies = chains.latencies.toSorted((a, b) => a - b)
    const ms = (p: number) => percentile(latencies, p).toFixed(1)
    const config =
      `Postgres store, Redis layer ${info.redisLayer ? 'on' : 'OFF (not available)'}, ` +
      `revocation bus ${info.bus} (state after the run: ${health.checks.bus}); ` +
      `hybrid: ${chains.refreshes()} refreshes over warm-up and runs, ` +
      `answered in p50 ${ms(50)} / p99 ${ms(99)} ms`
    return { rows, config }
  } finally {
    await stopChild(child)
  }
}

async function expressRows(
  space: Scratch,
  generators: Generator[],
  counter?: Callgrind,
): Promise<Row[]> {
  const { child, info } = await spawnJson<{ port: number }>(
    'express-session.ts',
    { REDIS_URL, BENCH_REDIS_PREFIX: space.redisPrefix },
    counter?.launcher,
  )
  counter?.attach(child.pid!)
  try {
    const send = client(info.port)
    const cookies = await Promise.all(
      Array.from({ length: CREDENTIALS }, async () => {
        const reply = await send('POST', '/login')
        const cookie = reply.setCookie[0]?.split(';')[0]
        if (reply.status !== 200 || cookie === undefined) {
          throw new Error(`express login: ${reply.status} ${reply.body}`)
        }
        return cookie
      }),
    )
    send.close()
    const route = getMe(
      `GET /api/me, cookie session in Redis (${CREDENTIALS} sessions)`,
      cookies.map((cookie) => ({ cookie })),
    )
    return await generatorRows(
      'Express 5 + express-session + connect-redis',
      targetOf(info.port, counter),
      [route],
      generators,
    )
  } finally {
    await stopChild(child)
  }
}

async function fastifyRows(generators: Generator[], counter?: Callgrind): Promise<Row[]> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const sign = createSigner({
    key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    algorithm: 'EdDSA',
    iss: ISSUER,
    aud: ISSUER,
    expiresIn: 600_000,
  })
  const tokens = Array.from({ length: CREDENTIALS }, (_, index) => sign({ sub: `user-${index}` }))
  const { child, info } = await spawnJson<{ port: number }>(
    'fastify-jwt.ts',
    { BENCH_PUBLIC_KEY: publicKey.export({ format: 'pem', type: 'spki' }).toString() },
    counter?.launcher,
  )
  counter?.attach(child.pid!)
  try {
    const route = getMe(
      `GET /api/me, Bearer EdDSA JWT (${CREDENTIALS} tokens)`,
      tokens.map((token) => bearer(token)),
    )
    return await generatorRows(
      'Fastify 5 + fast-jwt (cache on, no revocation)',
      targetOf(info.port, counter),
      [route],
      generators,
    )
  } finally {
    await stopChild(child)
  }
}

const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`

/**
 * Authenticated requests per second on a protected route: Latchkey (multi-node
 * configuration, revocation checking on) beside the conventional session stack and a
 * hand-made framework + JWT library, each server in its own process, each against its
 * own unprotected route. `generators`: autocannon, and wrk when it is installed; with
 * `callgrind`, every server runs again under valgrind, its instructions counted.
 */
export async function runProtectedBench(
  generators: Generator[] = wrkAvailable() ? ['autocannon', 'wrk'] : ['autocannon'],
): Promise<void> {
  const native = generators.filter((generator) => generator !== 'callgrind')
  const counted = generators.includes('callgrind')
  const plans = [
    ...(native.includes('autocannon')
      ? [`autocannon: ${ROUNDS} runs of ${MEASURE_SECONDS} s alternated with ${ROUNDS + 1}`]
      : []),
    ...(native.includes('wrk')
      ? [
          `wrk: one run of ${INTERLEAVED_SECONDS} s in phases of ${PHASE_MS} ms, alternated with those`,
        ]
      : []),
    ...(counted
      ? [
          `under callgrind, ${CALLGRIND_ROUNDS} runs of ${CALLGRIND_REQUESTS} requests alternated with ${CALLGRIND_ROUNDS + 1}`,
        ]
      : []),
  ]
  console.log(
    `\n## Protected route: ${CONNECTIONS} connections, each server in its own process; per protected route ${plans.join('; ')} of its unprotected twin (the same requests to /api/open)`,
  )
  console.log(`${machine()}; ${loadAverage()} at the start`)
  const space = await scratch('protected')
  const rows: Row[] = []
  const configs: string[] = []
  try {
    // The servers run natively for autocannon and wrk, then again under callgrind.
    const passes = [native, counted ? (['callgrind'] as Generator[]) : []]
    for (const pass of passes.filter((generatorsOfPass) => generatorsOfPass.length > 0)) {
      const counter = pass.includes('callgrind') ? callgrind() : undefined
      try {
        const latchkey = await latchkeyRows(space, pass, counter)
        configs.push(latchkey.config)
        rows.push(...latchkey.rows)
        rows.push(...(await expressRows(space, pass, counter)))
        rows.push(...(await fastifyRows(pass, counter)))
      } finally {
        counter?.close()
      }
    }
  } finally {
    await space.drop()
  }
  for (const config of configs) console.log(`Latchkey: ${config}`)
  console.log(`Postgres and Redis run on the same machine; ${loadAverage()} at the end.`)
  for (const generator of generators)
    printRows(
      generator,
      rows.filter((row) => row.generator === generator),
    )
  if (!generators.includes('wrk') && !counted) {
    console.log(
      '\nwrk is not installed (Debian: `apt install wrk`): the server-bound tables were skipped.',
    )
  }
  const failed = rows.filter((row) => row.failures > 0)
  if (failed.length > 0) {
    throw new Error(
      `non-2xx answers or errors (the numbers above are not valid): ${failed
        .map(
          (row) =>
            `${row.generator}: ${row.server} ${row.route}: ${row.failures} of ${row.requests}`,
        )
        .join('; ')}`,
    )
  }
}

/** The protected-route benchmark counted in instructions, when valgrind is installed. */
export async function runInstructionsBench(): Promise<void> {
  if (!callgrindAvailable()) {
    console.log('\nvalgrind is not installed (Debian: `apt install valgrind`): skipped.')
    return
  }
  await runProtectedBench(['callgrind'])
}

const GENERATOR_NOTES: Record<Generator, string> = {
  autocannon:
    'autocannon in the driver process: it spends about as much CPU per request as the servers, so on two cores it often sets the pace itself',
  wrk: `wrk, one thread: a fraction of the CPU per request, so the server is the bottleneck and every microsecond it spends shows. Each row is one run in which the route and its twin alternate every ${PHASE_MS} ms; req/s are of their own phases, the ratio is each of the route's phases over the twin's around it, median and middle half. The unprotected route against itself shows how far apart two identical routes read; p99 is of the whole run, both routes`,
  callgrind:
    'autocannon, each server run under callgrind: instructions the server executed per request (its own code, the JIT, the garbage collector and its timers; not the kernel). The machine’s load does not move a count; a garbage collection landing in one run does',
}

/** Each round's ratio; under wrk, the middle half of the phase pairs' and how many. */
function spread(generator: Generator, ratios: readonly number[]): string {
  if (generator !== 'wrk') return ratios.map((r) => r.toFixed(2)).join(', ')
  const sorted = ratios.toSorted((a, b) => a - b)
  const at = (p: number) => percentile(sorted, p).toFixed(2)
  return `${at(25)}–${at(75)} of ${sorted.length}`
}

/** The table of one generator's rows and the comparison with the peers. */
function printRows(generator: Generator, rows: Row[]): void {
  // Under callgrind `rps` is requests per 10⁹ instructions: shown as instructions per request.
  const counted = generator === 'callgrind'
  const unit = counted ? 'instructions per request' : 'req/s'
  const rate = generator === 'wrk' ? 'over its phases' : 'median'
  const shown = (rps: number | undefined) =>
    rps === undefined ? '–' : String(Math.round(counted ? 1e9 / rps : rps))
  console.log(`\n### Load from ${GENERATOR_NOTES[generator]}`)
  console.log(
    `| server | route | ${unit} (${rate}) | unprotected, same requests: ${unit} (${rate}) | ratio${counted ? ' (unprotected instructions ÷ protected)' : ''}, ${generator === 'wrk' ? 'median of phase pairs (middle half of how many)' : 'median of rounds (each round)'} | p99 ms | non-2xx/errors |`,
  )
  console.log('|---|---|---:|---:|---:|---:|---:|')
  for (const row of rows) {
    const base =
      row.ratios === undefined
        ? '–'
        : `${median(row.ratios).toFixed(2)}x (${spread(generator, row.ratios)})`
    const p99 = Number.isNaN(row.p99) ? '–' : row.p99.toFixed(1)
    console.log(
      `| ${row.server} | ${row.route} | ${shown(row.rps)} | ${shown(row.twinRps)} | ${base} | ${p99} | ${row.failures} |`,
    )
  }
  const find = (server: string, route: string) =>
    rows.find((row) => row.server.startsWith(server) && row.route.includes(route))
  console.log(
    counted
      ? '\n| Latchkey | peer | peer instructions ÷ Latchkey instructions, per request |'
      : '\n| Latchkey | peer | Latchkey req/s ÷ peer req/s |',
  )
  console.log('|---|---|---:|')
  const peerSession = 'Express + express-session + connect-redis'
  const peerJwt = 'Fastify + fast-jwt (no revocation)'
  const compare: [string, Row | undefined, string, Row | undefined][] = [
    ['cookie session', find('Latchkey', 'cookie'), peerSession, find('Express', 'cookie')],
    ['Bearer JWT', find('Latchkey', 'JWT ('), peerJwt, find('Fastify', 'Bearer')],
    ['hybrid', find('Latchkey', 'refresh'), peerJwt, find('Fastify', 'Bearer')],
    [
      'unprotected',
      find('Latchkey', 'unprotected'),
      'Express, unprotected',
      find('Express', 'unprotected'),
    ],
    [
      'unprotected',
      find('Latchkey', 'unprotected'),
      'Fastify, unprotected',
      find('Fastify', 'unprotected'),
    ],
  ]
  for (const [ours, a, theirs, b] of compare) {
    if (a !== undefined && b !== undefined) {
      console.log(`| ${ours} | ${theirs} | ${ratio(a.rps, b.rps)} |`)
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runProtectedBench()
