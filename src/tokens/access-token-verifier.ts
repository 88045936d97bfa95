import { ConfigError } from '../errors.js'
import { DEFAULT_SKEW_SECONDS, MAX_SKEW_SECONDS, validateAccessTokenClaims } from './claims.js'
import type { AccessTokenClaims } from './claims.js'
import { DEFAULT_MAX_TOKEN_BYTES, verifyJws } from './jws.js'
import type { KeyResolver } from './jws.js'

/** How an access-token verifier is built; checked once, at construction. */
export interface AccessTokenVerifierOptions {
  /** Where keys come from: the server's keyring or a JWKS key set. */
  resolveKey: KeyResolver
  /** The exact `iss` the tokens must carry. */
  issuer: string
  /** The audience this service answers to; `aud` must be it or contain it. */
  audience: string
  /** Tolerated clock difference, 0 to 120 seconds (default 30). */
  skewSeconds?: number
  /** Tokens longer than this are refused unread (default 8 KiB). */
  maxTokenBytes?: number
}

/** Verifies one access token at `now` (epoch ms); throws `AuthError` on any failure. */
export type AccessTokenVerifier = (token: string, now: number) => AccessTokenClaims

/**
 * Builds the strict verifier of SECURITY.md "Access tokens": form, header and signature
 * first ({@link verifyJws}), then the claims. Errors are `invalid_token`, or
 * `token_expired` for a correctly signed token past its `exp`. Revocation (`ver`, `sid`,
 * `jti`) is the caller's next step; this checks signature and claims only.
 */
export function createAccessTokenVerifier(
  options: AccessTokenVerifierOptions,
): AccessTokenVerifier {
  const { resolveKey, issuer, audience } = options
  const skewSeconds = options.skewSeconds ?? DEFAULT_SKEW_SECONDS
  const maxTokenBytes = options.maxTokenBytes ?? DEFAULT_MAX_TOKEN_BYTES
  if (typeof issuer !== 'string' || issuer === '') throw new ConfigError('issuer is required')
  if (typeof audience !== 'string' || audience === '') throw new ConfigError('audience is required')
  if (!Number.isFinite(skewSeconds) || skewSeconds < 0 || skewSeconds > MAX_SKEW_SECONDS) {
    throw new ConfigError(`skewSeconds must be between 0 and ${MAX_SKEW_SECONDS}`)
  }
  if (!Number.isSafeInteger(maxTokenBytes) || maxTokenBytes < 256) {
    throw new ConfigError('maxTokenBytes must be an integer of at least 256')
  }
  return (token, now) => {
    const { header, payload } = verifyJws(token, resolveKey, maxTokenBytes)
    return validateAccessTokenClaims(header, payload, { issuer, audience, now, skewSeconds })
  }
}
