import { AuthError } from '../errors.js'
import type { JsonObject } from './jws.js'

/** The claims of a Latchkey access token (RFC 9068 profile). Dates are epoch seconds. */
export interface AccessTokenClaims {
  iss: string
  sub: string
  aud: string | string[]
  exp: number
  iat: number
  nbf?: number
  jti: string
  /** The login (cookie session or refresh family) the token was issued under. */
  sid: string
  /** The user's token version when the token was issued. */
  ver: number
  scope?: string
  roles?: string[]
}

/** What the claims are checked against. `now` is epoch milliseconds. */
export interface ClaimsPolicy {
  issuer: string
  audience: string
  now: number
  skewSeconds: number
}

/** The default tolerance for clocks that disagree: seconds, never minutes. */
export const DEFAULT_SKEW_SECONDS = 30

/** The largest skew a verifier may be configured with. */
export const MAX_SKEW_SECONDS = 120

/**
 * Checks the header `typ` and the claims of a token whose signature already holds, one
 * guard at a time, each failure naming the claim. Time comparisons are in milliseconds:
 * a token is dead from `exp + skew` on (RFC 7519 §4.1.4: "on or after"), so with no
 * skew it is dead at `exp` itself.
 */
export function validateAccessTokenClaims(
  header: Readonly<JsonObject>,
  payload: JsonObject,
  policy: ClaimsPolicy,
): AccessTokenClaims {
  const skewMs = policy.skewSeconds * 1000
  if (!isAccessTokenType(header.typ)) {
    throw invalid('The "typ" header is not "at+jwt": this is not an access token')
  }

  const exp = numericDate(payload, 'exp', true)
  if (policy.now >= exp * 1000 + skewMs) {
    throw new AuthError('token_expired', 'The access token has expired ("exp")')
  }
  const nbf = numericDate(payload, 'nbf', false)
  if (nbf !== undefined && policy.now < nbf * 1000 - skewMs) {
    throw invalid('The "nbf" claim is in the future: the token is not valid yet')
  }
  const iat = numericDate(payload, 'iat', true)
  if (iat * 1000 > policy.now + skewMs) throw invalid('The "iat" claim is in the future')

  if (payload.iss !== policy.issuer) throw invalid('The "iss" claim is not the expected issuer')
  const aud = audience(payload.aud, policy.audience)
  const sub = nonEmptyString(payload, 'sub')
  const jti = nonEmptyString(payload, 'jti')
  const sid = nonEmptyString(payload, 'sid')
  const ver = payload.ver
  if (typeof ver !== 'number' || !Number.isSafeInteger(ver) || ver < 0) {
    throw invalid('The "ver" claim is missing or not a non-negative integer')
  }
  const scope = payload.scope
  if (scope !== undefined && typeof scope !== 'string') {
    throw invalid('The "scope" claim is not a string')
  }
  const roles = payload.roles
  if (roles !== undefined && !isStringArray(roles)) {
    throw invalid('The "roles" claim is not an array of strings')
  }

  const claims: AccessTokenClaims = { iss: policy.issuer, sub, aud, exp, iat, jti, sid, ver }
  if (nbf !== undefined) claims.nbf = nbf
  if (scope !== undefined) claims.scope = scope
  if (roles !== undefined) claims.roles = roles
  return claims
}

/** RFC 9068 §4: `at+jwt`, or its full media type, compared case-insensitively. */
function isAccessTokenType(typ: unknown): boolean {
  if (typeof typ !== 'string') return false
  const lower = typ.toLowerCase()
  return lower === 'at+jwt' || lower === 'application/at+jwt'
}

/** A NumericDate must be a finite number when present: a string is refused, not skipped. */
function numericDate(payload: JsonObject, name: string, required: true): number
function numericDate(payload: JsonObject, name: string, required: false): number | undefined
function numericDate(payload: JsonObject, name: string, required: boolean): number | undefined {
  const value = payload[name]
  if (value === undefined) {
    if (required) throw invalid(`The "${name}" claim is missing`)
    return undefined
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw invalid(`The "${name}" claim is not a numeric date`)
  }
  return value
}

function audience(aud: unknown, ours: string): string | string[] {
  if (typeof aud === 'string') {
    if (aud !== ours) throw invalid('The "aud" claim does not name this audience')
    return aud
  }
  if (!isStringArray(aud)) throw invalid('The "aud" claim is missing or not a string or array')
  if (!aud.includes(ours)) throw invalid('The "aud" claim does not name this audience')
  return aud
}

function nonEmptyString(payload: JsonObject, name: string): string {
  const value = payload[name]
  if (typeof value !== 'string' || value === '') {
    throw invalid(`The "${name}" claim is missing or not a string`)
  }
  return value
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string')
}

function invalid(message: string): AuthError {
  return new AuthError('invalid_token', message)
}
