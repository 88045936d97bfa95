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
  if (!SAFE_METHODS.has(request.method)) requireCsrfProof(app, request, caller)
  return caller
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
 */
function requireCsrfProof(app: App, request: CredentialRequest, caller: Caller): void {
  if (requestSource(request.headers, app.config.trustedOrigins) !== 'trusted') {
    throw new AuthError('csrf_failed', 'The request does not come from a trusted origin.')
  }
  if (!hasCsrfToken(request.headers, app.csrfKey, caller.login.id)) {
    throw new AuthError('csrf_failed', 'The x-csrf-token header is missing or wrong.')
  }
}

/**
 * Login and sign-up carry no cookie yet, but a foreign page must not log a browser in
 * (login CSRF): a browser that says the request is cross-site is refused.
 */
export function refuseCrossSite(app: App, request: Request): void {
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
