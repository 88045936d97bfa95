/**
 * Access-token verification throughput: raw node:crypto, Latchkey, jose and fast-jwt,
 * for EdDSA, ES256 and RS256, plus HS256 as a probe of each library's own per-token cost
 * (its crypto is cheap, so the parsing and checks show). Run: `node --import tsx bench/jwt.ts`.
 */
import { createHmac, timingSafeEqual, verify as cryptoVerify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import os from 'node:os'
import { pathToFileURL } from 'node:url'
import { createVerifier as createFastJwtVerifier } from 'fast-jwt'
import { importJWK, jwtVerify } from 'jose'
import { createAccessTokenVerifier } from '../src/tokens/access-token-verifier.js'
import { signAccessToken } from '../src/tokens/access-token.js'
import type { SigningAlg } from '../src/tokens/algorithms.js'
import { memoryKeyStore } from '../src/tokens/key-store.js'
import { Keyring } from '../src/tokens/keyring.js'
import { createVerifier } from '../src/verify/index.js'

/** One measured variant of one algorithm. */
export interface JwtBenchRow {
  alg: SigningAlg
  variant: string
  opsPerSec: number
  /** Raw node:crypto throughput divided by this one: 1.00 is as fast as the primitive. */
  slowdown: number
  /** Microseconds per verification above the raw primitive. */
  overheadUs: number
}

/** Timing knobs; the defaults take about a minute. */
export interface JwtBenchOptions {
  algs?: SigningAlg[]
  warmupMs?: number
  /** Each variant runs this long per round; the best round counts. */
  roundMs?: number
  rounds?: number
  print?: boolean
}

type Variant = { name: string; run: () => unknown; async: boolean }

const ISSUER = 'https://auth.example.com'
const AUDIENCE = 'https://api.example.com'
const RAW = 'raw node:crypto (signature only)'

/** Runs the benchmark and (by default) prints the table; returns the rows. */
export async function runJwtBench(options: JwtBenchOptions = {}): Promise<JwtBenchRow[]> {
  const algs = options.algs ?? ['EdDSA', 'ES256', 'RS256', 'HS256']
  const print = options.print ?? true
  if (print) printMachine()
  const rows: JwtBenchRow[] = []
  for (const alg of algs) {
    const variants = await variantsFor(alg)
    for (const variant of variants) await measure(variant, options.warmupMs ?? 300)
    // Short interleaved rounds, each starting at another variant, best round kept: on a
    // shared machine, noise only ever slows a round down.
    const best = new Map<string, number>(variants.map((variant) => [variant.name, 0]))
    for (let round = 0; round < (options.rounds ?? 8); round++) {
      for (let i = 0; i < variants.length; i++) {
        const variant = variants[(round + i) % variants.length]!
        const ops = await measure(variant, options.roundMs ?? 250)
        best.set(variant.name, Math.max(best.get(variant.name) ?? 0, ops))
      }
    }
    const raw = best.get(RAW) ?? Number.NaN
    for (const [variant, opsPerSec] of best) {
      const overheadUs = 1e6 / opsPerSec - 1e6 / raw
      rows.push({ alg, variant, opsPerSec, slowdown: raw / opsPerSec, overheadUs })
    }
  }
  if (print) printTable(rows)
  return rows
}

async function variantsFor(alg: SigningAlg): Promise<Variant[]> {
  const secret = Buffer.alloc(32, 1)
  const keyring = new Keyring({
    store: memoryKeyStore(),
    masterSecret: secret,
    alg,
    hmacSecret: secret,
  })
  const now = Date.now()
  const signer = await keyring.ensure(now)
  const claims = { iss: ISSUER, sub: 'user-1', aud: AUDIENCE, sid: 'login-1', ver: 0 }
  const { token } = signAccessToken(signer, claims, { now, ttlSeconds: 3600 })
  const jwks = keyring.publicJwks(now)
  const key = keyring.keyFor(signer.kid)!.key

  const raw = rawVerifier(alg, key, token)
  const latchkey = createAccessTokenVerifier({
    resolveKey: keyring.resolveKey,
    issuer: ISSUER,
    audience: AUDIENCE,
  })
  const remote = createVerifier({
    jwksUrl: 'https://auth.example.com/.well-known/jwks.json',
    issuer: ISSUER,
    audience: AUDIENCE,
    fetch: () =>
      Promise.resolve(Response.json(jwks, { headers: { 'cache-control': 'max-age=3600' } })),
  })
  const hmac = alg === 'HS256'
  const joseKey = hmac ? new Uint8Array(key.export()) : await importJWK(jwks.keys[0]!, alg)
  const joseOptions = { issuer: ISSUER, audience: AUDIENCE, typ: 'at+jwt', algorithms: [alg] }
  const fastKey = hmac ? key.export() : key.export({ format: 'pem', type: 'spki' }).toString()
  const fastOptions = { key: fastKey, algorithms: [alg], allowedIss: ISSUER, allowedAud: AUDIENCE }
  const fastJwt = createFastJwtVerifier({ ...fastOptions, cache: false })
  const fastJwtCached = createFastJwtVerifier({ ...fastOptions, cache: true })

  const variants: Variant[] = [
    { name: RAW, run: raw, async: false },
    { name: 'latchkey (strict, sync core)', run: () => latchkey(token, Date.now()), async: false },
    { name: 'latchkey/verify (async, JWKS cached)', run: () => remote.verify(token), async: true },
    {
      name: 'jose jwtVerify (pre-imported key)',
      run: () => jwtVerify(token, joseKey, joseOptions),
      async: true,
    },
    { name: 'fast-jwt (cache disabled)', run: (): unknown => fastJwt(token), async: false },
    {
      name: 'fast-jwt (CACHE ENABLED: no crypto per call)',
      run: (): unknown => fastJwtCached(token),
      async: false,
    },
  ]
  // HS256 keys are never published, so there is no JWKS for latchkey/verify to use.
  const usable = hmac
    ? variants.filter((variant) => !variant.name.startsWith('latchkey/verify'))
    : variants
  for (const variant of usable) await variant.run() // each must succeed before it is timed
  return usable
}

/** Just the signature check, on bytes decoded once: the floor every verifier pays. */
function rawVerifier(alg: SigningAlg, key: KeyObject, token: string): () => boolean {
  const dot = token.lastIndexOf('.')
  const data = Buffer.from(token.slice(0, dot), 'latin1')
  const signature = Buffer.from(token.slice(dot + 1), 'base64url')
  const verify = () => {
    if (alg === 'EdDSA') return cryptoVerify(null, data, key, signature)
    if (alg === 'HS256') {
      return timingSafeEqual(createHmac('sha256', key).update(data).digest(), signature)
    }
    if (alg === 'ES256') {
      return cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature)
    }
    return cryptoVerify('sha256', data, key, signature)
  }
  if (!verify()) throw new Error(`raw ${alg} verification failed`)
  return verify
}

/** Operations per second over about `ms`, timed in batches to keep the clock cheap. */
async function measure(variant: Variant, ms: number): Promise<number> {
  const batch = 50
  let count = 0
  const start = performance.now()
  let elapsed = 0
  while (elapsed < ms) {
    if (variant.async) {
      for (let i = 0; i < batch; i++) await variant.run()
    } else {
      for (let i = 0; i < batch; i++) variant.run()
    }
    count += batch
    elapsed = performance.now() - start
  }
  return (count / elapsed) * 1000
}

function printMachine(): void {
  const cpus = os.cpus()
  console.log(`cpu: ${cpus[0]?.model ?? 'unknown'} x ${cpus.length} cores`)
  console.log(`node ${process.version}, ${os.type()} ${os.release()} ${os.arch()}`)
}

function printTable(rows: JwtBenchRow[]): void {
  const header = ['alg', 'variant', 'verify/s', 'vs raw', 'µs over raw']
  const lines = rows.map((row) => [
    row.alg,
    row.variant,
    Math.round(row.opsPerSec).toLocaleString('en-US'),
    `${row.slowdown.toFixed(2)}x`,
    row.overheadUs.toFixed(1),
  ])
  const widths = header.map((_, column) =>
    Math.max(header[column]!.length, ...lines.map((line) => line[column]!.length)),
  )
  const format = (cells: string[]) =>
    cells
      .map((cell, column) =>
        column >= 2 ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!),
      )
      .join('  ')
  console.log(`\n${format(header)}\n${widths.map((width) => '-'.repeat(width)).join('  ')}`)
  for (const line of lines) console.log(format(line))
  console.log('\nvs raw = raw ops/s ÷ ops/s (1.00x = as fast as the bare signature check).')
  console.log('Every variant but the cached fast-jwt does the full signature check on every call.')
  console.log("HS256 is a probe: with cheap crypto, 'µs over raw' is each library's own cost.")
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await runJwtBench()
}
