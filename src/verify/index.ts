/**
 * `latchkey/verify`: verifies Latchkey access tokens in another service, with only the
 * issuer's JWKS URL, its issuer name and this service's audience. No store, no secret.
 *
 * Without `revocation` this checks the signature and the claims only: a token that was
 * revoked (logout, password change, ban) keeps verifying here until its `exp`, at most the
 * access-token TTL (10 minutes by default). With `revocation` the verifier subscribes to
 * the issuer's Redis bus (see `revocations.ts`): a revoked token is refused with
 * `token_revoked` within milliseconds, and while the bus cannot vouch for that the verifier
 * fails closed with {@link RevocationUnavailableError} (code `revocation_unavailable`, 503).
 */
import { systemClock } from '../clock.js'
import type { Clock } from '../clock.js'
import { ConfigError } from '../errors.js'
import { createAccessTokenVerifier } from '../tokens/access-token-verifier.js'
import type { AccessTokenClaims } from '../tokens/claims.js'
import type { VerificationKey } from '../tokens/jws.js'
import { DEFAULT_KEY_SET_POLICY, RemoteKeySet } from './key-set.js'
import type { KeyMap, KeySetPolicy } from './key-set.js'
import { subscribeRevocations } from './revocations.js'
import type { VerifierRevocationOptions } from './revocations.js'

export type { AccessTokenClaims } from '../tokens/claims.js'
export { AuthError } from '../errors.js'
export type { ErrorCode } from '../errors.js'
export { RevocationUnavailableError } from './revocations.js'
export type { VerifierRevocationOptions } from './revocations.js'

/** How a verifier is built; checked once, at construction. */
export interface VerifierOptions {
  /** The issuer's JWKS URL: https, or plain http on a loopback address only. */
  jwksUrl: string | URL
  /** The exact `iss` of the tokens. */
  issuer: string
  /** This service's audience; a token's `aud` must be it or contain it. */
  audience: string
  /** Epoch milliseconds; injected by tests. */
  clock?: Clock
  /** Tolerated clock difference, 0 to 120 seconds (default 30). */
  skewSeconds?: number
  /** The fetch used for the JWKS only (default: the global fetch). */
  fetch?: typeof fetch
  /** JWKS caching bounds; see {@link DEFAULT_KEY_SET_POLICY}. */
  cache?: Partial<KeySetPolicy>
  /**
   * The issuer's revocation bus: revoked tokens are refused, and while the bus cannot vouch
   * for a token the verifier fails closed. Without it a revoked token passes until `exp`.
   */
  revocation?: VerifierRevocationOptions
}

/** Verifies access tokens; see {@link createVerifier}. */
export interface Verifier {
  /**
   * The claims, or an `AuthError`: invalid_token, token_expired, token_revoked (with a
   * revocation bus) or store_unavailable (JWKS unreachable, or revocations not in sync).
   */
  verify(token: string): Promise<AccessTokenClaims>
  /** Stops the revocation subscription, if any. */
  close(): Promise<void>
}

/**
 * Creates a verifier of Latchkey access tokens for another service. It fetches and caches
 * the JWKS (single-flight; refetched at most once per 30 s for an unknown `kid`) and
 * applies every strict check of the server's own verifier. With no revocation bus
 * configured it checks signature and claims only: a revoked token passes until `exp`.
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const url = checkedJwksUrl(options.jwksUrl)
  const clock = options.clock ?? systemClock
  const policy = checkedPolicy({ ...DEFAULT_KEY_SET_POLICY, ...options.cache })
  const keySet = new RemoteKeySet(url, options.fetch ?? globalThis.fetch, policy)
  const revocations =
    options.revocation === undefined ? undefined : subscribeRevocations(options.revocation, clock)

  // The strict core is synchronous; these two variables tell it which key set to use and
  // report whether the kid was missing, so that only that case triggers a refetch.
  let activeKeys: KeyMap = new Map()
  let missedKid = false
  const resolveKey = (kid: string): VerificationKey | undefined => {
    const key = activeKeys.get(kid)
    missedKid = key === undefined
    return key
  }
  const core = createAccessTokenVerifier({
    resolveKey,
    issuer: options.issuer,
    audience: options.audience,
    skewSeconds: options.skewSeconds,
  })
  const run = (token: string, keys: KeyMap, now: number): AccessTokenClaims => {
    activeKeys = keys
    missedKid = false
    const claims = core(token, now)
    revocations?.check(claims, now)
    return claims
  }

  return {
    async verify(token) {
      const now = clock()
      const keys = await keySet.current(now)
      try {
        return run(token, keys, now)
      } catch (error) {
        if (!missedKid) throw error
        const newer = await keySet.afterUnknownKid(keys, now)
        if (newer === undefined) throw error
        return run(token, newer, now)
      }
    },
    close: () => revocations?.close() ?? Promise.resolve(),
  }
}

function checkedPolicy(policy: KeySetPolicy): KeySetPolicy {
  for (const [name, value] of Object.entries(policy)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new ConfigError(`cache.${name} must be a finite number >= 0`)
    }
  }
  if (policy.minCacheSeconds > policy.maxCacheSeconds) {
    throw new ConfigError('cache.minCacheSeconds must not exceed cache.maxCacheSeconds')
  }
  return policy
}

function checkedJwksUrl(value: string | URL): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new ConfigError('jwksUrl is not a valid URL')
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new ConfigError('jwksUrl must use https (plain http only on a loopback address)')
  }
  if (url.username !== '' || url.password !== '') {
    throw new ConfigError('jwksUrl must not carry credentials')
  }
  return url
}
