import { AuthError } from '../errors.js'
import type { VerificationKey } from '../tokens/jws.js'
import { parseJwks } from './jwks.js'

/** kid → key, as of one fetch of the JWKS. Replaced whole, never mutated. */
export type KeyMap = ReadonlyMap<string, VerificationKey>

/** The cache policy of a remote key set; every bound is in seconds. */
export interface KeySetPolicy {
  /** Used when the response has no usable max-age. */
  defaultCacheSeconds: number
  /** Bounds applied to the response's max-age (also for `no-cache` / `no-store`: the minimum). */
  minCacheSeconds: number
  maxCacheSeconds: number
  /** The least time between two fetches that a token could trigger (unknown kid, errors). */
  refetchCooldownSeconds: number
  /** How long past freshness the last good key set still serves while fetches fail. */
  staleIfErrorSeconds: number
  timeoutMs: number
  maxBytes: number
}

/** Defaults: 5 min without a header, max-age kept within 30 s – 1 h, one refetch per 30 s. */
export const DEFAULT_KEY_SET_POLICY: KeySetPolicy = {
  defaultCacheSeconds: 300,
  minCacheSeconds: 30,
  maxCacheSeconds: 3600,
  refetchCooldownSeconds: 30,
  staleIfErrorSeconds: 3600,
  timeoutMs: 5000,
  maxBytes: 256 * 1024,
}

/**
 * A JWKS fetched from one configured URL and cached. Fetches are single-flight (one
 * request however many verifications wait for it) and a token can cause at most one
 * fetch per cooldown: an attacker minting random kids costs the issuer nothing.
 */
export class RemoteKeySet {
  readonly #url: URL
  readonly #fetch: typeof fetch
  readonly #policy: KeySetPolicy
  #keys: KeyMap | undefined
  #freshUntil = -Infinity
  #staleUntil = -Infinity
  #lastAttempt = -Infinity
  #lastError: unknown
  #inflight: Promise<void> | undefined

  constructor(url: URL, fetchImpl: typeof fetch, policy: KeySetPolicy) {
    this.#url = url
    this.#fetch = fetchImpl
    this.#policy = policy
  }

  /** The keys to verify with at `now`, fetching them when absent or stale. */
  async current(now: number): Promise<KeyMap> {
    if (this.#keys !== undefined && now < this.#freshUntil) return this.#keys
    if (this.#inflight === undefined && this.#coolingDown(now)) return this.#usable(now)
    await this.#reload(now)
    return this.#usable(now)
  }

  /**
   * After a kid was not found in `seen`: a newer key set if one is (or becomes) available
   * within the rate limit, otherwise `undefined`.
   */
  async afterUnknownKid(seen: KeyMap, now: number): Promise<KeyMap | undefined> {
    if (this.#keys !== seen) return this.#keys
    if (this.#inflight === undefined && this.#coolingDown(now)) return undefined
    await this.#reload(now) // never rejects: a failed fetch leaves the keys as they were
    return this.#keys !== seen ? this.#keys : undefined
  }

  #coolingDown(now: number): boolean {
    return now - this.#lastAttempt < this.#policy.refetchCooldownSeconds * 1000
  }

  /** The current keys if still allowed, else the reason they are missing. */
  #usable(now: number): KeyMap {
    if (this.#keys !== undefined && now < this.#staleUntil) return this.#keys
    throw new AuthError('store_unavailable', "The issuer's JWKS could not be loaded", {
      cause: this.#lastError,
    })
  }

  #reload(now: number): Promise<void> {
    this.#inflight ??= this.#load(now).finally(() => {
      this.#inflight = undefined
    })
    return this.#inflight
  }

  async #load(now: number): Promise<void> {
    this.#lastAttempt = now
    try {
      const { keys, maxAgeSeconds } = await this.#fetchJwks()
      this.#keys = keys
      this.#freshUntil = now + maxAgeSeconds * 1000
      this.#staleUntil = this.#freshUntil + this.#policy.staleIfErrorSeconds * 1000
      this.#lastError = undefined
    } catch (error) {
      // The previous keys (if any) keep serving until #staleUntil; callers see the error
      // only once nothing usable is left.
      this.#lastError = error
    }
  }

  async #fetchJwks(): Promise<{ keys: KeyMap; maxAgeSeconds: number }> {
    const response = await this.#fetch(this.#url, {
      headers: { accept: 'application/jwk-set+json, application/json' },
      redirect: 'error',
      signal: AbortSignal.timeout(this.#policy.timeoutMs),
    })
    if (!response.ok) throw new Error(`The JWKS request answered HTTP ${response.status}`)
    const text = await readLimited(response, this.#policy.maxBytes)
    const keys = await parseJwks(JSON.parse(text))
    return { keys, maxAgeSeconds: cacheLifetime(response.headers, this.#policy) }
  }
}

/** Freshness from Cache-Control max-age (minus Age), clamped to the policy's bounds. */
export function cacheLifetime(headers: Headers, policy: KeySetPolicy): number {
  const directives = (headers.get('cache-control') ?? '').toLowerCase().split(',')
  let seconds = policy.defaultCacheSeconds
  for (const directive of directives.map((part) => part.trim())) {
    const maxAge = /^max-age=(\d{1,9})$/.exec(directive)
    if (maxAge !== null) seconds = Number(maxAge[1])
    if (directive === 'no-cache' || directive === 'no-store') {
      seconds = policy.minCacheSeconds
      break
    }
  }
  const age = Number(headers.get('age') ?? 0)
  if (Number.isSafeInteger(age) && age > 0) seconds -= age
  return Math.min(policy.maxCacheSeconds, Math.max(policy.minCacheSeconds, seconds))
}

async function readLimited(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? 0)
  if (declared > maxBytes) throw new Error('The JWKS response is too large')
  if (response.body === null) return ''
  const chunks: Uint8Array[] = []
  let total = 0
  const reader = response.body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > maxBytes) {
      await reader.cancel()
      throw new Error('The JWKS response is too large')
    }
    chunks.push(value)
  }
  return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks))
}
