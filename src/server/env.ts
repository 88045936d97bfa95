import { resolve } from 'node:path'
import { MIN_SECRET_BYTES, parseOrigin } from '../config.js'
import { ConfigError } from '../errors.js'
import { MIN_HMAC_SECRET_BYTES, SIGNING_ALGS, isSigningAlg } from '../tokens/algorithms.js'
import type { SigningAlg } from '../tokens/algorithms.js'

/** Where the server keeps its data. */
export type DatabaseConfig =
  | { kind: 'sqlite'; filename: string }
  | {
      kind: 'postgres'
      /** The `postgres://` URL; may hold a password, so it is never logged. */
      url: string
      /** `LATCHKEY_PG_PREPARE`: prepare the refresh's statements (default on). */
      preparedStatements: boolean
      /** `LATCHKEY_PG_POOL_SIZE`: most connections the store opens; unset, the store's default. */
      poolSize: number | undefined
    }

/** The standalone server's configuration, read from the environment. */
export interface ServerEnv {
  port: number
  host: string
  issuer: string
  trustedOrigins: string[] | undefined
  /** `undefined`: none given; in development one is generated into the data folder. */
  secret: string | undefined
  production: boolean
  dataDir: string
  database: DatabaseConfig
  /** `REDIS_URL`: the cache, counters and bus in front of the database; may hold a password. */
  redisUrl: string | undefined
  /** `LATCHKEY_REDIS_PREFIX`: keys and the bus channel, so deployments can share one Redis. */
  redisPrefix: string
  trustProxyHops: number
  /**
   * `LATCHKEY_DRAIN_TIMEOUT`: seconds a stopping server lets open requests finish before
   * it cuts their connections (default 10).
   */
  drainSeconds: number
  tokens: {
    alg: SigningAlg
    /** HS256 only. */
    hmacSecret: string | undefined
    accessTokenTtlSeconds: number
    /** `undefined`: the issuer. */
    audience: string | undefined
    /** Refresh-token families, in seconds; `undefined`: the library's defaults (7 and 30 days). */
    refreshIdleSeconds: number | undefined
    refreshAbsoluteSeconds: number | undefined
  }
}

type Env = Record<string, string | undefined>

/** Reads and validates the environment; every problem names its variable. */
export function readServerEnv(env: Env, cwd: string = process.cwd()): ServerEnv {
  const port = readInteger(env, 'PORT', 3000, 0, 65_535)
  const production = env['NODE_ENV'] === 'production'
  const dataDir = resolve(cwd, nonEmpty(env['LATCHKEY_DATA_DIR']) ?? 'data')
  const issuer = nonEmpty(env['LATCHKEY_ISSUER']) ?? `http://localhost:${port}`
  parseOrigin(issuer, 'LATCHKEY_ISSUER')
  const origins = nonEmpty(env['LATCHKEY_TRUSTED_ORIGINS'])
  const trustedOrigins = origins
    ?.split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== '')
    .map((origin) => parseOrigin(origin, 'LATCHKEY_TRUSTED_ORIGINS'))
  const secret = nonEmpty(env['LATCHKEY_SECRET'])
  if (secret !== undefined && Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
    throw new ConfigError(`LATCHKEY_SECRET must have at least ${MIN_SECRET_BYTES} bytes.`)
  }
  if (secret === undefined && production) {
    throw new ConfigError(
      `LATCHKEY_SECRET is required when NODE_ENV=production (at least ${MIN_SECRET_BYTES} bytes, ` +
        'the same on every node). Generate one with: openssl rand -base64 48',
    )
  }
  return {
    port,
    host: nonEmpty(env['HOST']) ?? '0.0.0.0',
    issuer,
    trustedOrigins,
    secret,
    production,
    dataDir,
    database: readDatabase(env, dataDir, cwd),
    redisUrl: readRedisUrl(nonEmpty(env['REDIS_URL'])),
    redisPrefix: readRedisPrefix(nonEmpty(env['LATCHKEY_REDIS_PREFIX'])),
    trustProxyHops: readInteger(env, 'LATCHKEY_TRUST_PROXY', 0, 0, 10),
    drainSeconds: readInteger(env, 'LATCHKEY_DRAIN_TIMEOUT', 10, 0, 3600),
    tokens: readTokens(env),
  }
}

function readTokens(env: Env): ServerEnv['tokens'] {
  const alg = nonEmpty(env['LATCHKEY_JWT_ALG']) ?? 'EdDSA'
  if (!isSigningAlg(alg)) {
    throw new ConfigError(
      `LATCHKEY_JWT_ALG must be one of ${SIGNING_ALGS.join(', ')} (exact case), not "${alg}".`,
    )
  }
  // Never echo the secret, not even in part.
  const hmacSecret = nonEmpty(env['LATCHKEY_HS256_SECRET'])
  if (alg === 'HS256') {
    if (hmacSecret === undefined || Buffer.byteLength(hmacSecret) < MIN_HMAC_SECRET_BYTES) {
      throw new ConfigError(
        `LATCHKEY_JWT_ALG=HS256 needs LATCHKEY_HS256_SECRET of at least ${MIN_HMAC_SECRET_BYTES} ` +
          'bytes; HS256 is for a single service that both issues and verifies tokens.',
      )
    }
  } else if (hmacSecret !== undefined) {
    throw new ConfigError('LATCHKEY_HS256_SECRET is set but LATCHKEY_JWT_ALG is not HS256.')
  }
  const audience = nonEmpty(env['LATCHKEY_AUDIENCE'])
  return {
    alg,
    hmacSecret,
    accessTokenTtlSeconds: readInteger(env, 'LATCHKEY_ACCESS_TOKEN_TTL', 600, 1, 86_400),
    audience,
    refreshIdleSeconds: readOptionalInteger(env, 'LATCHKEY_REFRESH_IDLE_TTL', 60, 400 * 86_400),
    refreshAbsoluteSeconds: readOptionalInteger(
      env,
      'LATCHKEY_REFRESH_ABSOLUTE_TTL',
      60,
      400 * 86_400,
    ),
  }
}

function readDatabase(env: Env, dataDir: string, cwd: string): DatabaseConfig {
  const url = nonEmpty(env['DATABASE_URL'])
  if (url === undefined) return { kind: 'sqlite', filename: resolve(dataDir, 'latchkey.db') }
  const sqlite = /^(?:sqlite|file):(?:\/\/)?(.+)$/.exec(url)
  if (sqlite !== null) return { kind: 'sqlite', filename: resolve(cwd, sqlite[1]!) }
  if (/^postgres(?:ql)?:\/\//.test(url)) {
    return {
      kind: 'postgres',
      url,
      preparedStatements: readSwitch(env, 'LATCHKEY_PG_PREPARE', true),
      poolSize: readOptionalInteger(env, 'LATCHKEY_PG_POOL_SIZE', 1, 1000),
    }
  }
  // Never echo the URL: it may carry a password.
  throw new ConfigError(
    'DATABASE_URL must be postgres://... or sqlite:<path> (or unset for ./data/latchkey.db).',
  )
}

function readRedisUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined
  const urls = url.split(',').map((part) => part.trim())
  // Never echo the URL: it may carry a password.
  if (!urls.every((part) => /^rediss?:\/\/[^\s]+$/.test(part))) {
    throw new ConfigError(
      'REDIS_URL must be redis://host:port (or rediss://), or several separated by commas for a Redis Cluster.',
    )
  }
  return url
}

function readRedisPrefix(prefix: string | undefined): string {
  if (prefix === undefined) return 'latchkey:'
  if (!/^[A-Za-z0-9:_.-]{1,64}$/.test(prefix)) {
    throw new ConfigError('LATCHKEY_REDIS_PREFIX must be 1 to 64 of A-Z a-z 0-9 : _ . -')
  }
  return prefix
}

function readSwitch(env: Env, name: string, fallback: boolean): boolean {
  const value = nonEmpty(env[name])?.toLowerCase()
  if (value === undefined) return fallback
  if (value === 'on' || value === 'true' || value === '1') return true
  if (value === 'off' || value === 'false' || value === '0') return false
  throw new ConfigError(`${name} must be on or off.`)
}

function readInteger(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = nonEmpty(env[name])
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (!/^\d+$/.test(raw) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, not "${raw}".`)
  }
  return value
}

function readOptionalInteger(env: Env, name: string, min: number, max: number): number | undefined {
  return nonEmpty(env[name]) === undefined ? undefined : readInteger(env, name, min, min, max)
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim()
  return trimmed === '' ? undefined : trimmed
}
