import { AuthError } from '../errors.js'
import { readSessionCookie } from '../sessions/cookies.js'
import { hasCsrfToken, requestSource } from '../sessions/csrf.js'
import type { App, Caller } from './app.js'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** The caller behind the request's credential; `unauthorized` when there is none. */
export async function authenticate(app: App, request: Request): Promise<Caller> {
  const token = readSessionCookie(request.headers)
  if (token === null) throw new AuthError('unauthorized', 'Authentication is required.')
  const { user, login } = await app.sessions.validate(token)
  const caller: Caller = { user, login, via: 'cookie' }
  if (!SAFE_METHODS.has(request.method)) requireCsrfProof(app, request, caller)
  return caller
}

/**
 * A cookie rides along on every request the browser makes, so an unsafe one must
 * prove it comes from a trusted page: Fetch-Metadata or Origin, and the session's token.
 */
function requireCsrfProof(app: App, request: Request, caller: Caller): void {
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
