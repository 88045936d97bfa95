// wrk (C, from Debian's `wrk` package) as a second load generator for the protected-route
// benchmark. autocannon spends about as much CPU per request as the server it loads, so on
// two cores it shares the machine with the server and often sets the pace itself; wrk
// spends a fraction of that, which leaves the server the bottleneck. Requests are made by
// a Lua script generated per run: GET requests round robin over fixed credentials, or the
// hybrid (Bearer calls, and a refresh once per `every` requests whose answer replaces that
// chain's tokens); to one path, or to a route and its twin in alternate phases.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** One measured run. */
export interface WrkRun {
  rps: number
  /** Non-2xx answers plus socket errors of every kind. */
  failures: number
  requests: number
  /** The p99 latency in ms. */
  p99: number
  /** The hybrid script's report. */
  report?: WrkHybridReport
  /** Interleaved: the answers counted in each phase, in order (the twin's first). */
  phases?: number[]
}

/**
 * What an interleaved run measured: each of the route's phases over the mean of the
 * twin's phases on either side of it, and both rates. The first `skip` phases (connections
 * opening) are left out; the phase the run ended in never reaches the counts.
 */
export function phaseRatios(
  phases: readonly number[],
  phaseMs: number,
  skip = 4,
): { ratios: number[]; rps: number; twinRps: number } {
  const ratios: number[] = []
  let route = 0
  let twin = 0
  // Odd phases are the route's.
  for (let index = skip + 1; index + 1 < phases.length; index += 2) {
    const around = (phases[index - 1]! + phases[index + 1]!) / 2
    ratios.push(phases[index]! / around)
    route += phases[index]!
    twin += around
  }
  const seconds = (ratios.length * phaseMs) / 1000
  return { ratios, rps: route / seconds, twinRps: twin / seconds }
}

/** A refresh-token chain as the hybrid script carries it. */
export interface WrkChain {
  accessToken: string
  refreshToken: string
  /** The `sid` of its access tokens: how a refresh answer finds its chain. */
  loginId: string
}

/** What the hybrid script reports when done: its refreshes and the chains as they stand. */
export interface WrkHybridReport {
  refreshes: number
  /** `busy`: a refresh was sent and not answered when the run ended. */
  chains: (WrkChain & { busy: boolean })[]
}

/** What a run sends. */
export type WrkRequests =
  | { kind: 'get'; path: string; headers: Record<string, string>[] }
  /**
   * Bearer GETs of `path` over the chains, and a refresh once per `every` requests (0:
   * never, for the unprotected twin, which then costs wrk as much per request).
   */
  | { kind: 'hybrid'; chains: WrkChain[]; every: number; path: string }

/** Whether `wrk` is on the PATH. */
export function wrkAvailable(): boolean {
  return spawnSync('wrk', ['--version']).error === undefined
}

// JSON string literals are valid Lua string literals for the ASCII this script carries.
const lua = (value: string) => JSON.stringify(value)

/**
 * How a script picks its path, and what it does with each answer: one path throughout, or
 * (interleaved) the twin's and the route's in alternate phases, every answer counted in
 * the phase it arrived in.
 */
interface Paths {
  /** A Lua expression: whether the request being made is the route's (a refresh may go). */
  route: string
  /** A Lua expression for the path of the request being made, given `own` (`route`'s value). */
  path: string
  /** Lua to define before the script, and to run on every answer. */
  prelude: string
  onAnswer: string
}

const single = (path: string): Paths => ({
  path: lua(path),
  route: 'true',
  prelude: '',
  onAnswer: '',
})

/**
 * Phases of `phaseMs` alternate between `twinPath` (even) and `routePath` (odd), by the
 * monotonic clock (LuaJIT's FFI, which Debian's wrk has). Each answer adds to the count of
 * the phase it arrives in; the counts reach `done` as one string (`PHASES n,n,...`).
 */
function interleaved(twinPath: string, routePath: string, phaseMs: number): Paths {
  return {
    path: `(own and ${lua(routePath)} or ${lua(twinPath)})`,
    route: 'phase() == 1',
    prelude: `
local ffi = require('ffi')
ffi.cdef[[ typedef struct { long sec; long nsec; } latchkey_time; int clock_gettime(int, latchkey_time*); ]]
local time = ffi.new('latchkey_time')
local function now()
  ffi.C.clock_gettime(1, time)
  return tonumber(time.sec) * 1000 + tonumber(time.nsec) / 1e6
end
local start = nil
local function slot()
  local at = now()
  if start == nil then start = at end
  return math.floor((at - start) / ${phaseMs})
end
function phase() return slot() % 2 end
local counting, counted = 0, 0
phases = ''
local function answered()
  local current = slot()
  while counting < current do
    phases = phases .. counted .. ','
    counting, counted = counting + 1, 0
  end
  counted = counted + 1
end
`,
    onAnswer: 'answered()',
  }
}

function getScript(paths: Paths, headers: Record<string, string>[]): string {
  const sets = headers.map(
    (set) =>
      `{${Object.entries(set)
        .map(([name, value]) => `[${lua(name)}] = ${lua(value)}`)
        .join(', ')}}`,
  )
  return `
${paths.prelude}
local sets = {${sets.join(', ')}}
local next = 0
function request()
  local own = ${paths.route}
  next = next % #sets + 1
  return wrk.format('GET', ${paths.path}, sets[next])
end
${paths.onAnswer === '' ? '' : `function response() ${paths.onAnswer} end`}
${doneScript(paths, '')}
`
}

/** `done`: the phase counts, when interleaved, and `more` (Lua writing further lines). */
function doneScript(paths: Paths, more: string): string {
  const phases =
    paths.onAnswer === '' ? '' : `io.write('PHASES ' .. threads[1]:get('phases') .. '\\n')`
  if (phases === '' && more === '') return ''
  return `
local threads = {}
function setup(thread) threads[#threads + 1] = thread end
function done()
  ${phases}
  ${more}
end`
}

function hybridScript(chains: WrkChain[], every: number, paths: Paths): string {
  const rows = chains.map(
    (chain) =>
      `{access = ${lua(chain.accessToken)}, refresh = ${lua(chain.refreshToken)}, sid = ${lua(chain.loginId)}, busy = false}`,
  )
  return `
${paths.prelude}
chains = {${rows.join(',\n')}}
local bySid = {}
-- Each chain as JSON in a global of its own: done() reads them from the thread as strings
-- (copying a table out of a thread crashes Debian's wrk).
local function publish(index)
  local chain = chains[index]
  _G['chain' .. index] = '{"accessToken":"' .. chain.access .. '","refreshToken":"' ..
    chain.refresh .. '","loginId":"' .. chain.sid .. '","busy":' .. tostring(chain.busy) .. '}'
end
for index, chain in ipairs(chains) do
  chain.index = index
  bySid[chain.sid] = chain
  publish(index)
end
local alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
local function base64url(text)
  local bytes, buffer, bits = {}, 0, 0
  for index = 1, #text do
    buffer = buffer * 64 + (alphabet:find(text:sub(index, index), 1, true) - 1)
    bits = bits + 6
    if bits >= 8 then
      bits = bits - 8
      local byte = math.floor(buffer / 2 ^ bits)
      bytes[#bytes + 1] = string.char(byte)
      buffer = buffer - byte * 2 ^ bits
    end
  end
  return table.concat(bytes)
end
-- The GETs take the chains round robin, the refreshes in a turn of their own: each chain
-- then refreshes once per \`every\` of its own GETs. Taken in the GETs' turn, with a period
-- that is a multiple of the chains (600 of 50), every refresh of a phase fell on one chain.
local count, next, turn = 0, 0, 0
refreshes = 0
function request()
  local own = ${paths.route}
  if own then count = count + 1 end
  if own and ${every} > 0 and count % ${every} == 0 then
    turn = turn % #chains + 1
    local chain = chains[turn]
    if not chain.busy then
      chain.busy = true
      publish(turn)
      return wrk.format('POST', '/auth/refresh', {['content-type'] = 'application/json'},
        '{"refresh_token":"' .. chain.refresh .. '"}')
    end
  end
  next = next % #chains + 1
  return wrk.format('GET', ${paths.path}, {authorization = 'Bearer ' .. chains[next].access})
end
function response(status, headers, body)
  ${paths.onAnswer}
  local refresh = body:match('"refresh_token":"([^"]+)"')
  if refresh == nil then return end
  local access = body:match('"access_token":"([^"]+)"')
  local sid = base64url(access:match('^[^.]+%.([^.]+)%.')):match('"sid":"([^"]+)"')
  local chain = bySid[sid]
  chain.access, chain.refresh, chain.busy = access, refresh, false
  publish(chain.index)
  refreshes = refreshes + 1
end
${doneScript(
  paths,
  `local out = {}
  for index = 1, ${chains.length} do out[index] = threads[1]:get('chain' .. index) end
  io.write('CHAINS {"refreshes":' .. threads[1]:get('refreshes') .. ',"chains":[' ..
    table.concat(out, ',') .. ']}\\n')`,
)}
`
}

function number(output: string, pattern: RegExp): number {
  const match = pattern.exec(output)
  return match === null ? 0 : Number(match[1])
}

/** wrk's latency as ms ("812.00us", "1.20ms", "2.01s"). */
function millis(value: string, unit: string): number {
  const scale: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 }
  return Number(value) * (scale[unit] ?? NaN)
}

/**
 * Alternating the route with its twin inside one run: phases of `phaseMs` (route on the
 * odd ones), the answers counted per phase.
 */
export interface WrkInterleave {
  twinPath: string
  phaseMs: number
}

/**
 * Runs wrk with one thread and `connections` connections for `seconds` against `port`;
 * with `interleave`, the twin's path and the route's alternate (see {@link phaseRatios}).
 */
export async function runWrk(
  port: number,
  requests: WrkRequests,
  options: { connections: number; seconds: number; interleave?: WrkInterleave },
): Promise<WrkRun> {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-wrk-'))
  const script = join(dir, 'requests.lua')
  const { interleave } = options
  const paths =
    interleave === undefined
      ? single(requests.path)
      : interleaved(interleave.twinPath, requests.path, interleave.phaseMs)
  writeFileSync(
    script,
    requests.kind === 'get'
      ? getScript(paths, requests.headers)
      : hybridScript(requests.chains, requests.every, paths),
  )
  try {
    const output = await new Promise<string>((resolve, reject) => {
      const args = ['-t1', `-c${options.connections}`, `-d${options.seconds}s`, '--latency']
      const child = spawn('wrk', [...args, '-s', script, `http://127.0.0.1:${port}`])
      let text = ''
      child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()))
      child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()))
      child.once('error', reject)
      child.once('exit', (code) =>
        code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}: ${text}`)),
      )
    })
    const latency = /\s99%\s+([\d.]+)(us|ms|s|m)\b/.exec(output)
    const socketErrors =
      /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output)
    const chains = /^CHAINS (.*)$/m.exec(output)
    const phases = /^PHASES (.*)$/m.exec(output)
    return {
      rps: number(output, /Requests\/sec:\s+([\d.]+)/),
      requests: number(output, /(\d+) requests in/),
      failures:
        number(output, /Non-2xx or 3xx responses: (\d+)/) +
        (socketErrors === null
          ? 0
          : socketErrors.slice(1).reduce((sum, count) => sum + Number(count), 0)),
      p99: latency === null ? NaN : millis(latency[1]!, latency[2]!),
      ...(chains === null ? {} : { report: JSON.parse(chains[1]!) as WrkHybridReport }),
      ...(phases === null ? {} : { phases: phases[1]!.split(',').filter(Boolean).map(Number) }),
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
