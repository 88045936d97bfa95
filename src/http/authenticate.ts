import { AuthError } from '../errors.js'
import { readSessionCookie } from '../sessions/cookies.js'
import { hasCsrfToken, requestSource } from '../sessions/csrf.js'
import type { App, Caller } from './app.js'
import type { HeaderReader } from './header-reader.js'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * What authentication reads of a request: its method and headers. A `Request` is one;
 * a framework adapter can pass its own request without copying it into a `Request`.
 */
export interface CredentialRequest {
  method: string
  headers: HeaderReader
}

/**
 * The caller behind the request's credential; `unauthorized` when there is none. A Bearer
 * token wins over a cookie: it is what the client chose to present for this request.
 */
export async function authenticate(app: App, request: CredentialRequest): Promise<Caller> {
  const bearer = readBearer(request.headers)
  if (bearer !== null) {
    const { user, login, claims } = await app.tokens.verify(bearer)
    // No CSRF proof: a browser never attaches an Authorization header on its own.
    return { user, login, via: 'bearer', claims }
  }
  const token = readSessionCookie(request.headers)
  if (token === null) throw new AuthError('unauthorized', 'Authentication is required.')
  const { user, login } = await app.sessions.validate(token)
  const caller: Caller = { user, login, via: 'cookie' }
  if (!SAFE_METHODS.has(request.method)) {
    const refusal = csrfRefusal(app, request, caller)
    if (refusal !== undefined) throw refusal
  }
  return caller
}

/**
 * The caller `authenticate` would find, when this node can tell at once from memory: a
 * credential it validated in full, untouched by any fact since, not expired, while its
 * bus is trusted (and, for a cookie on an unsafe method, with its CSRF proof). `undefined`
 * in every other case, a refusal included: `authenticate` then decides, and says why.
 */
export function cachedCaller(app: App, request: CredentialRequest): Caller | undefined {
  const authorization = request.headers.get('authorization')
  if (authorization !== null) {
    // The common shape without a regular expression: only a token verified here in full
    // is in the cache, so a match is exactly what `readBearer` would have read. Anything
    // else that `readBearer` takes for a Bearer token is left to `authenticate`.
    const plain = plainBearer(authorization)
    if (plain !== null) {
      const valid = app.tokens.cached(plain)
      return valid && { user: valid.user, login: valid.login, via: 'bearer', claims: valid.claims }
    }
    if (!isOtherScheme(request)) return undefined
  }
  const token = readSessionCookie(request.headers)
  if (token === null) return undefined
  const valid = app.sessions.cached(token)
  if (valid === undefined) return undefined
  const caller: Caller = { user: valid.user, login: valid.login, via: 'cookie' }
  if (!SAFE_METHODS.has(request.method) && csrfRefusal(app, request, caller) !== undefined) {
    return undefined
  }
  return caller
}

/** Whether the Authorization header is of another scheme, which `authenticate` ignores. */
function isOtherScheme(request: CredentialRequest): boolean {
  try {
    return readBearer(request.headers) === null
  } catch {
    return false
  }
}

/** What follows `Bearer ` (any case, one space) in a header value, unchecked; else `null`. */
function plainBearer(value: string): string | null {
  if (value.length <= 7 || value.charCodeAt(6) !== 32) return null
  // The usual spelling first: no lower-case copy is built for it.
  const bearer = value.startsWith('Bearer') || value.slice(0, 6).toLowerCase() === 'bearer'
  return bearer ? value.slice(7) : null
}

/**
 * The token of an `Authorization: Bearer` header (RFC 6750 §2.1), or `null` when the
 * request has no Bearer header; a Bearer header of the wrong shape is `invalid_token`.
 * Other schemes are not credentials here and are ignored.
 */
export function readBearer(headers: HeaderReader): string | null {
  const value = headers.get('authorization')
  if (value === null) return null
  const match = /^bearer(?: +(.*))?$/is.exec(value.trim())
  if (match === null) return null
  const token = match[1]?.trim() ?? ''
  if (!/^[A-Za-z0-9._~+/-]+=*$/.test(token)) {
    throw new AuthError('invalid_token', 'The Bearer token is malformed.')
  }
  return token
}

/**
 * A cookie rides along on every request the browser makes, so an unsafe one must
 * prove it comes from a trusted page: Fetch-Metadata or Origin, and the session's token.
 * The refusal when it does not.
 */
function csrfRefusal(app: App, request: CredentialRequest, caller: Caller): AuthError | undefined {
  if (requestSource(request.headers, app.config.trustedOrigins) !== 'trusted') {
    return new AuthError('csrf_failed', 'The request does not come from a trusted origin.')
  }
  if (!hasCsrfToken(request.headers, app.csrfKey, caller.login.id)) {
    return new AuthError('csrf_failed', 'The x-csrf-token header is missing or wrong.')
  }
  return undefined
}

/**
 * Login and sign-up carry no cookie yet, but a foreign page must not log a browser in
 * (login CSRF): a browser that says the request is cross-site is refused.
 */
export function refuseCrossSite(app: App, request: CredentialRequest): void {
  if (requestSource(request.headers, app.config.trustedOrigins) === 'cross-site') {
    throw new AuthError('csrf_failed', 'The request does not come from a trusted origin.')
  }
}

/** `null` instead of a 401 (no credential, or a dead one); every other failure stands. */
export async function unless401<T>(promise: Promise<T>): Promise<T | null> {
  try {
    return await promise
  } catch (error) {
    if (error instanceof AuthError && error.status === 401) return null
    throw error
  }
}
