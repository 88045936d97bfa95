/** Every error code Latchkey puts on the wire. Stable: clients may switch on them. */
export type ErrorCode =
  | 'invalid_request'
  | 'invalid_credentials'
  | 'email_taken'
  | 'weak_password'
  | 'unauthorized'
  | 'invalid_token'
  | 'token_expired'
  | 'token_revoked'
  | 'session_expired'
  | 'session_revoked'
  | 'invalid_refresh_token'
  | 'refresh_token_reused'
  | 'login_not_fresh'
  | 'csrf_failed'
  | 'insufficient_role'
  | 'rate_limited'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'not_found'
  | 'method_not_allowed'
  | 'store_unavailable'
  | 'revocation_unavailable'
  | 'internal_error'

const STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  invalid_credentials: 401,
  email_taken: 409,
  weak_password: 400,
  unauthorized: 401,
  invalid_token: 401,
  token_expired: 401,
  token_revoked: 401,
  session_expired: 401,
  session_revoked: 401,
  invalid_refresh_token: 401,
  refresh_token_reused: 401,
  login_not_fresh: 401,
  csrf_failed: 403,
  insufficient_role: 403,
  rate_limited: 429,
  payload_too_large: 413,
  unsupported_media_type: 415,
  not_found: 404,
  method_not_allowed: 405,
  store_unavailable: 503,
  revocation_unavailable: 503,
  internal_error: 500,
}

/** The HTTP status that goes with an error code. */
export function statusOf(code: ErrorCode): number {
  return STATUS[code]
}

/**
 * An expected failure with a stable code. Messages are written for people and never
 * contain a credential, a token or a secret.
 */
export class AuthError extends Error {
  override readonly name = 'AuthError'
  readonly code: ErrorCode
  /** Seconds after which a rate-limited client may try again. */
  readonly retryAfter: number | undefined
  /** The methods a route accepts, for a 405. */
  readonly allow: string | undefined
  /**
   * For a Bearer token refused for a missing role: the roles (scopes) the route needs,
   * named in an `insufficient_scope` challenge (RFC 6750 §3.1).
   */
  readonly scope: string | undefined

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; retryAfter?: number; allow?: string; scope?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.retryAfter = options?.retryAfter
    this.allow = options?.allow
    this.scope = options?.scope
  }

  get status(): number {
    return statusOf(this.code)
  }
}

/** Misconfiguration, thrown once at construction or start, never per request. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

/** A store that cannot be reached; becomes 503 `store_unavailable`. */
export class StoreUnavailableError extends AuthError {
  constructor(cause: unknown) {
    super('store_unavailable', 'The credential store is unavailable; try again shortly.', { cause })
  }
}
