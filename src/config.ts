import type { Clock } from './clock.js'
import { systemClock } from './clock.js'
import type { PasswordHasher } from './crypto/password-hasher.js'
import type { EventHandlers } from './events.js'
import { argon2idHasher } from './crypto/password-hasher.js'
import { ConfigError } from './errors.js'
import type { CacheOptions } from './revocation/cache.js'
import type { BusTransport } from './revocation/transport.js'
import type { Store } from './stores/contract.js'
import { MIN_HMAC_SECRET_BYTES, SIGNING_ALGS, isSigningAlg } from './tokens/algorithms.js'
import type { SigningAlg } from './tokens/algorithms.js'
import { MAX_SKEW_SECONDS } from './tokens/claims.js'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/** A fixed-window limit: at most `limit` hits per `windowMs`. */
export interface RateLimitRule {
  limit: number
  windowMs: number
}

/** Idle and absolute lifetimes of a cookie session, in milliseconds. */
export interface SessionLifetime {
  idleMs: number
  absoluteMs: number
}

/** Options of `createLatchkey`. Only `store`, `issuer` and `secret` are required. */
export interface LatchkeyOptions {
  /** Where users, logins and counters live. */
  store: Store
  /** The public base URL of the auth server, e.g. `https://auth.example.com`. */
  issuer: string
  /** The master secret (≥ 32 bytes); every node of a deployment shares it. */
  secret: string | Uint8Array
  /** Origins allowed to send cookie-authenticated unsafe requests; default: the issuer's. */
  trustedOrigins?: string[]
  clock?: Clock
  passwordHasher?: PasswordHasher
  session?: {
    /** Default: idle 30 min, absolute 12 h (OWASP ASVS level 2). */
    lifetime?: SessionLifetime
    /** Used when a login asks to be remembered. Default: idle 7 days, absolute 30 days. */
    rememberLifetime?: SessionLifetime
    /** Activity is written at most once per this fraction of the idle window. Default 0.1. */
    renewFraction?: number
  }
  rateLimits?: Partial<RateLimits>
  /** Reverse proxies in front of the server whose `X-Forwarded-For` entry is trusted. Default 0. */
  trustProxyHops?: number
  /** The largest request body accepted, in bytes. Default 16 KiB. */
  maxBodyBytes?: number
  /** Access tokens (`POST /auth/login` with `mode: "token"`) and their signing keys. */
  tokens?: TokenOptions
  /** How revocations reach every node, and the local caches they evict. */
  revocation?: RevocationOptions
  /** Handlers for an audit log: login, logout, refresh, reuse detected, revocation, … */
  events?: EventHandlers
}

/**
 * Revocation across nodes. Each node answers repeated credentials from a local cache;
 * revocation facts travel on a bus and evict them. Without a bus, one node alone.
 */
export interface RevocationOptions {
  /**
   * The bus shared by every node (`latchkey/bus/redis`, `latchkey/bus/postgres`).
   * Default: in-process, correct for one node only.
   */
  bus?: BusTransport
  /** How often a node checks its bus end to end with a probe. Default 1000 ms. */
  probeIntervalMs?: number
  /** A probe not back within this time makes the node distrust its caches. Default 2000 ms. */
  probeTimeoutMs?: number
  /** Bounds of the local caches of validated credentials. */
  cache?: CacheOptions
}

/** Revocation options after validation. */
export interface ResolvedRevocationConfig {
  bus: BusTransport | undefined
  probeIntervalMs: number
  probeTimeoutMs: number
  cache: Required<CacheOptions>
}

/** Options of the stateless access tokens. */
export interface TokenOptions {
  /** The algorithm of new signing keys. Default EdDSA; HS256 needs `hmacSecret`. */
  alg?: SigningAlg
  /** HS256 only (one-service deployments): a secret of at least 32 bytes. */
  hmacSecret?: string | Uint8Array
  /** Lifetime of an access token in seconds. Default 600. */
  accessTokenTtlSeconds?: number
  /** The `aud` of issued tokens and the audience the server accepts. Default: the issuer. */
  audience?: string
  /** How often the signing key is rotated automatically. Default 30 days. */
  rotationIntervalMs?: number
  /** Tolerated clock difference when verifying, 0 to 120 seconds. Default 30. */
  skewSeconds?: number
  /** Refresh-token families: one per token-mode login. */
  refresh?: RefreshOptions
}

/** Lifetimes of a refresh-token family, in milliseconds. */
export interface RefreshOptions {
  /** A family unused this long expires. Default 7 days. */
  idleMs?: number
  /** A family ends this long after its login, however often it rotates. Default 30 days. */
  absoluteMs?: number
  /** A spent token re-presented within this time gets the same child back. Default 10 s. */
  graceMs?: number
}

/** Refresh options after validation. */
export interface ResolvedRefreshConfig {
  idleMs: number
  absoluteMs: number
  graceMs: number
}

/** Token options after validation. */
export interface ResolvedTokenConfig {
  alg: SigningAlg
  hmacSecret: Uint8Array | undefined
  accessTokenTtlSeconds: number
  audience: string
  rotationIntervalMs: number
  skewSeconds: number
  refresh: ResolvedRefreshConfig
}

export interface RateLimits {
  loginPerIp: RateLimitRule
  loginPerAccount: RateLimitRule
  signupPerIp: RateLimitRule
}

/** Options after validation, with every default filled in. */
export interface ResolvedConfig {
  store: Store
  issuer: string
  trustedOrigins: ReadonlySet<string>
  secret: Uint8Array
  clock: Clock
  passwordHasher: PasswordHasher
  session: { lifetime: SessionLifetime; rememberLifetime: SessionLifetime; renewFraction: number }
  rateLimits: RateLimits
  trustProxyHops: number
  maxBodyBytes: number
  secureTransport: boolean
  tokens: ResolvedTokenConfig
  revocation: ResolvedRevocationConfig
}

export const DEFAULT_RATE_LIMITS: RateLimits = {
  loginPerIp: { limit: 30, windowMs: 5 * MINUTE },
  loginPerAccount: { limit: 10, windowMs: 15 * MINUTE },
  signupPerIp: { limit: 10, windowMs: HOUR },
}

export const MIN_SECRET_BYTES = 32

/** The origin (`scheme://host[:port]`) of a URL, or a ConfigError naming the option. */
export function parseOrigin(value: string, option: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ConfigError(`${option}: "${value}" is not a URL.`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(`${option}: "${value}" must use http or https.`)
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new ConfigError(
      `${option}: "${value}" must not carry credentials, a query or a fragment.`,
    )
  }
  return url.origin
}

function checkLifetime(lifetime: SessionLifetime, option: string): SessionLifetime {
  const { idleMs, absoluteMs } = lifetime
  if (!(Number.isInteger(idleMs) && idleMs >= MINUTE)) {
    throw new ConfigError(`${option}.idleMs must be a whole number of at least 60000.`)
  }
  if (!(Number.isInteger(absoluteMs) && absoluteMs >= idleMs && absoluteMs <= 400 * DAY)) {
    throw new ConfigError(`${option}.absoluteMs must be at least idleMs and at most 400 days.`)
  }
  return lifetime
}

function checkRule(rule: RateLimitRule, option: string): RateLimitRule {
  if (!(Number.isInteger(rule.limit) && rule.limit >= 1)) {
    throw new ConfigError(`${option}.limit must be a positive whole number.`)
  }
  if (!(Number.isInteger(rule.windowMs) && rule.windowMs >= 1000)) {
    throw new ConfigError(`${option}.windowMs must be at least 1000.`)
  }
  return rule
}

function resolveTokens(options: TokenOptions, issuer: string): ResolvedTokenConfig {
  const alg = options.alg ?? 'EdDSA'
  if (!isSigningAlg(alg))
    throw new ConfigError(`tokens.alg must be one of ${SIGNING_ALGS.join(', ')}.`)
  const hmacSecret =
    typeof options.hmacSecret === 'string'
      ? new TextEncoder().encode(options.hmacSecret)
      : options.hmacSecret
  if (
    alg === 'HS256' &&
    !(hmacSecret !== undefined && hmacSecret.length >= MIN_HMAC_SECRET_BYTES)
  ) {
    throw new ConfigError(
      `tokens.alg HS256 needs tokens.hmacSecret of at least ${MIN_HMAC_SECRET_BYTES} bytes.`,
    )
  }
  if (alg !== 'HS256' && hmacSecret !== undefined) {
    throw new ConfigError('tokens.hmacSecret is only used with tokens.alg HS256.')
  }
  const ttl = options.accessTokenTtlSeconds ?? 600
  if (!(Number.isInteger(ttl) && ttl >= 1 && ttl <= 86_400)) {
    throw new ConfigError('tokens.accessTokenTtlSeconds must be a whole number from 1 to 86400.')
  }
  const audience = options.audience ?? issuer
  if (typeof audience !== 'string' || audience.trim() === '') {
    throw new ConfigError('tokens.audience must be a non-empty string.')
  }
  const rotationIntervalMs = options.rotationIntervalMs ?? 30 * DAY
  if (!(Number.isInteger(rotationIntervalMs) && rotationIntervalMs >= HOUR)) {
    throw new ConfigError('tokens.rotationIntervalMs must be a whole number of at least 3600000.')
  }
  const skewSeconds = options.skewSeconds ?? 30
  if (!(Number.isInteger(skewSeconds) && skewSeconds >= 0 && skewSeconds <= MAX_SKEW_SECONDS)) {
    throw new ConfigError(
      `tokens.skewSeconds must be a whole number from 0 to ${MAX_SKEW_SECONDS}.`,
    )
  }
  return {
    alg,
    hmacSecret,
    accessTokenTtlSeconds: ttl,
    audience,
    rotationIntervalMs,
    skewSeconds,
    refresh: resolveRefresh(options.refresh ?? {}, ttl),
  }
}

function resolveRefresh(options: RefreshOptions, accessTtlSeconds: number): ResolvedRefreshConfig {
  const { idleMs, absoluteMs } = checkLifetime(
    { idleMs: options.idleMs ?? 7 * DAY, absoluteMs: options.absoluteMs ?? 30 * DAY },
    'tokens.refresh',
  )
  // A family must outlive one access token, or a client could never refresh in time.
  if (idleMs <= accessTtlSeconds * 1000) {
    throw new ConfigError('tokens.refresh.idleMs must exceed tokens.accessTokenTtlSeconds.')
  }
  const graceMs = options.graceMs ?? 10_000
  // Long enough for a lost response or a client racing itself; longer only widens the
  // time in which a stolen spent token still yields the live child.
  if (!(Number.isInteger(graceMs) && graceMs >= 0 && graceMs <= MINUTE)) {
    throw new ConfigError('tokens.refresh.graceMs must be a whole number from 0 to 60000.')
  }
  return { idleMs, absoluteMs, graceMs }
}

function resolveRevocation(options: RevocationOptions): ResolvedRevocationConfig {
  const number = (value: number | undefined, fallback: number, option: string, min: number) => {
    const resolved = value ?? fallback
    if (!(Number.isInteger(resolved) && resolved >= min)) {
      throw new ConfigError(`revocation.${option} must be a whole number of at least ${min}.`)
    }
    return resolved
  }
  const probeIntervalMs = number(options.probeIntervalMs, 1000, 'probeIntervalMs', 10)
  const probeTimeoutMs = number(options.probeTimeoutMs, 2000, 'probeTimeoutMs', 10)
  if (probeTimeoutMs < probeIntervalMs) {
    throw new ConfigError('revocation.probeTimeoutMs must be at least probeIntervalMs.')
  }
  return {
    bus: options.bus,
    probeIntervalMs,
    probeTimeoutMs,
    cache: {
      // 0 turns the caches off: every request reads the store.
      maxEntries: number(options.cache?.maxEntries, 10_000, 'cache.maxEntries', 0),
      maxAgeMs: number(options.cache?.maxAgeMs, 60_000, 'cache.maxAgeMs', 0),
    },
  }
}

/** Validates options and fills in defaults; throws ConfigError with the option's name. */
export function resolveConfig(options: LatchkeyOptions): ResolvedConfig {
  const issuerUrl = new URL(parseOrigin(options.issuer, 'issuer'))
  const issuer = options.issuer.replace(/\/+$/, '')
  const secret =
    typeof options.secret === 'string' ? new TextEncoder().encode(options.secret) : options.secret
  if (secret.length < MIN_SECRET_BYTES) {
    throw new ConfigError(`secret must have at least ${MIN_SECRET_BYTES} bytes.`)
  }
  const trusted = (options.trustedOrigins ?? [issuerUrl.origin]).map((origin) =>
    parseOrigin(origin, 'trustedOrigins'),
  )
  const renewFraction = options.session?.renewFraction ?? 0.1
  if (!(renewFraction > 0 && renewFraction <= 0.5)) {
    throw new ConfigError('session.renewFraction must be greater than 0 and at most 0.5.')
  }
  const rateLimits = { ...DEFAULT_RATE_LIMITS, ...options.rateLimits }
  for (const [name, rule] of Object.entries(rateLimits)) checkRule(rule, `rateLimits.${name}`)
  const trustProxyHops = options.trustProxyHops ?? 0
  if (!(Number.isInteger(trustProxyHops) && trustProxyHops >= 0 && trustProxyHops <= 10)) {
    throw new ConfigError('trustProxyHops must be a whole number from 0 to 10.')
  }
  const maxBodyBytes = options.maxBodyBytes ?? 16 * 1024
  if (!(Number.isInteger(maxBodyBytes) && maxBodyBytes >= 1024 && maxBodyBytes <= 1024 * 1024)) {
    throw new ConfigError('maxBodyBytes must be a whole number from 1024 to 1048576.')
  }
  return {
    store: options.store,
    issuer,
    trustedOrigins: new Set(trusted),
    secret,
    clock: options.clock ?? systemClock,
    passwordHasher: options.passwordHasher ?? argon2idHasher(),
    session: {
      lifetime: checkLifetime(
        options.session?.lifetime ?? { idleMs: 30 * MINUTE, absoluteMs: 12 * HOUR },
        'session.lifetime',
      ),
      rememberLifetime: checkLifetime(
        options.session?.rememberLifetime ?? { idleMs: 7 * DAY, absoluteMs: 30 * DAY },
        'session.rememberLifetime',
      ),
      renewFraction,
    },
    rateLimits,
    trustProxyHops,
    maxBodyBytes,
    secureTransport: issuerUrl.protocol === 'https:',
    tokens: resolveTokens(options.tokens ?? {}, issuer),
    revocation: resolveRevocation(options.revocation ?? {}),
  }
}
