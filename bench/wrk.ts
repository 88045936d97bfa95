// wrk (C, from Debian's `wrk` package) as a second load generator for the protected-route
// benchmark. autocannon spends about as much CPU per request as the server it loads, so on
// two cores it shares the machine with the server and often sets the pace itself; wrk
// spends a fraction of that, which leaves the server the bottleneck. Requests are made by
// a Lua script generated per run: GET requests round robin over fixed credentials, or the
// hybrid (Bearer calls, and a refresh once per `every` requests whose answer replaces that
// chain's tokens).
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

function getScript(path: string, headers: Record<string, string>[]): string {
  const sets = headers.map(
    (set) =>
      `{${Object.entries(set)
        .map(([name, value]) => `[${lua(name)}] = ${lua(value)}`)
        .join(', ')}}`,
  )
  return `
local sets = {${sets.join(', ')}}
local next = 0
function request()
  next = next % #sets + 1
  return wrk.format('GET', ${lua(path)}, sets[next])
end
`
}

function hybridScript(chains: WrkChain[], every: number, path: string): string {
  const rows = chains.map(
    (chain) =>
      `{access = ${lua(chain.accessToken)}, refresh = ${lua(chain.refreshToken)}, sid = ${lua(chain.loginId)}, busy = false}`,
  )
  return `
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
local count, next = 0, 0
refreshes = 0
function request()
  count = count + 1
  next = next % #chains + 1
  local chain = chains[next]
  if ${every} > 0 and count % ${every} == 0 and not chain.busy then
    chain.busy = true
    publish(next)
    return wrk.format('POST', '/auth/refresh', {['content-type'] = 'application/json'},
      '{"refresh_token":"' .. chain.refresh .. '"}')
  end
  return wrk.format('GET', ${lua(path)}, {authorization = 'Bearer ' .. chain.access})
end
function response(status, headers, body)
  local refresh = body:match('"refresh_token":"([^"]+)"')
  if refresh == nil then return end
  local access = body:match('"access_token":"([^"]+)"')
  local sid = base64url(access:match('^[^.]+%.([^.]+)%.')):match('"sid":"([^"]+)"')
  local chain = bySid[sid]
  chain.access, chain.refresh, chain.busy = access, refresh, false
  publish(chain.index)
  refreshes = refreshes + 1
end
local threads = {}
function setup(thread) threads[#threads + 1] = thread end
function done()
  local out = {}
  for index = 1, ${chains.length} do out[index] = threads[1]:get('chain' .. index) end
  io.write('CHAINS {"refreshes":' .. threads[1]:get('refreshes') .. ',"chains":[' ..
    table.concat(out, ',') .. ']}\\n')
end
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

/** Runs wrk with one thread and `connections` connections for `seconds` against `port`. */
export async function runWrk(
  port: number,
  requests: WrkRequests,
  options: { connections: number; seconds: number },
): Promise<WrkRun> {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-wrk-'))
  const script = join(dir, 'requests.lua')
  writeFileSync(
    script,
    requests.kind === 'get'
      ? getScript(requests.path, requests.headers)
      : hybridScript(requests.chains, requests.every, requests.path),
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
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
