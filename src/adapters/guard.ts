/**
 * The decisions every framework adapter shares: which credential a protected route
 * accepts, whether the caller holds a role, whether the login is fresh, and the wire form
 * of a refusal. The adapters only translate requests and responses around these.
 */
import type { Clock } from '../clock.js'
import { AuthError, ConfigError } from '../errors.js'
import type { Caller } from '../http/app.js'
import { readBearer } from '../http/authenticate.js'
import type { CredentialRequest } from '../http/authenticate.js'
import { errorReply, secureReply, toResponse } from '../http/responses.js'
import type { AccessTokenClaims } from '../tokens/claims.js'

/** What a guard needs of a Latchkey: the caller behind a request (or why not), and time. */
export interface CallerSource {
  /** The caller, or an `AuthError` saying precisely why not (401, 403 or 503). */
  check(request: CredentialRequest): Promise<Caller>
  /** The caller when it is known from memory at once; `undefined`: ask `check`. */
  peek?(request: CredentialRequest): Caller | undefined
  /** `secureTransport`: the issuer is https, so refusals carry HSTS as the handler's answers do. */
  config: { issuer: string; clock: Clock; secureTransport?: boolean }
}

/** What a token-only guard needs: `Verifier` of `latchkey/verify` is one. */
export interface TokenVerifier {
  /** The claims, or an `AuthError` with a code. */
  verify(token: string): Promise<AccessTokenClaims>
}

/** The roles a caller holds; may look them up. */
export type RolesOf = (caller: Caller) => string[] | Promise<string[]>

/** Options of a route protected by a Latchkey (cookie sessions and Bearer tokens). */
export interface RequireAuthOptions {
  /** Accept only this credential; the other one is ignored as if absent. Default: either. */
  via?: 'cookie' | 'bearer'
  /** The caller must hold every one of these roles (see `rolesOf`), else 403 `insufficient_role`. */
  roles?: readonly string[]
  /**
   * The password must have been typed within this many milliseconds (the login's
   * `createdAt`), else 401 `login_not_fresh`: for changing an email, deleting an account.
   */
  freshWithinMs?: number
}

/** Options of a route that only verifies access tokens (`latchkey/verify`). */
export interface RequireTokenOptions {
  /** The token must carry every one of these roles (its `roles` and `scope` claims). */
  roles?: readonly string[]
  /** The `realm` of the `WWW-Authenticate` challenge. Default `api`. */
  realm?: string
}

/** Options given once, when an adapter is created over a Latchkey. */
export interface AdapterOptions {
  /**
   * The roles of a caller. Default: for a Bearer caller, the token's `roles` claim and the
   * words of its `scope` claim; for a cookie caller, none (sessions carry no roles).
   */
  rolesOf?: RolesOf
}

/**
 * A decision on one request: the caller, or an `AuthError` to answer with (thrown or
 * rejected). Synchronous when the caller was known from memory (see `settle`).
 */
export type CallerGuard = (request: CredentialRequest) => Caller | Promise<Caller>

/** A decision on one token-only request: the claims, or an `AuthError`. */
export type TokenGuard = (request: CredentialRequest) => Promise<AccessTokenClaims>

/** The roles the default `rolesOf` reads: a Bearer token's `roles` and `scope` claims. */
export function defaultRolesOf(caller: Caller): string[] {
  return caller.via === 'bearer' ? rolesOfClaims(caller.claims) : []
}

/** Builds the guard of `requireAuth`; wrong options throw `ConfigError` at once. */
export function callerGuard(
  source: CallerSource,
  options: RequireAuthOptions = {},
  rolesOf: RolesOf = defaultRolesOf,
): CallerGuard {
  const { via, roles = [], freshWithinMs } = checkedAuthOptions(options)
  const admit = (caller: Caller): Caller | Promise<Caller> => {
    if (
      freshWithinMs !== undefined &&
      source.config.clock() - caller.login.createdAt > freshWithinMs
    ) {
      throw new AuthError('login_not_fresh', 'This action needs a recent sign-in: log in again.')
    }
    if (roles.length === 0) return caller
    const held = rolesOf(caller)
    const bearer = caller.via === 'bearer'
    if (Array.isArray(held)) {
      requireRoles(held, roles, bearer)
      return caller
    }
    return Promise.resolve(held).then((list) => {
      requireRoles(list, roles, bearer)
      return caller
    })
  }
  return (request) => {
    const credentials = onlyCredential(request, via)
    // Almost every request: a credential this node has validated, decided without a promise.
    const known = source.peek?.(credentials)
    if (known !== undefined) return admit(known)
    return source.check(credentials).then(admit)
  }
}

/**
 * Runs a guard and hands its outcome to `admit` or `refuse`: in the same tick when the
 * guard decided synchronously, so a route answered from memory costs no promise.
 */
export function settle<T>(
  guard: () => T | Promise<T>,
  admit: (value: T) => void,
  refuse: (error: unknown) => void,
): void {
  let outcome: T | Promise<T>
  try {
    outcome = guard()
  } catch (error) {
    refuse(error)
    return
  }
  if (outcome instanceof Promise) {
    outcome.then(admit).catch(refuse)
    return
  }
  admit(outcome)
}

/** Builds the guard of `requireToken`: a Bearer token, verified, with its roles. */
export function tokenGuard(verifier: TokenVerifier, options: RequireTokenOptions = {}): TokenGuard {
  const roles = checkedRoles(options.roles)
  return async (request) => {
    const token = readBearer(request.headers)
    if (token === null) throw new AuthError('unauthorized', 'A Bearer token is required.')
    const claims = await verifier.verify(token)
    requireRoles(rolesOfClaims(claims), roles, true)
    return claims
  }
}

/** How a Latchkey's guard refuses: its issuer's host as realm, HSTS behind https. */
export interface RefusalStyle {
  realm: string
  hsts: boolean
}

/** The refusal style of a Latchkey, as its own handler answers. */
export function refusalStyleOf(source: CallerSource): RefusalStyle {
  return {
    realm: new URL(source.config.issuer).host,
    hsts: source.config.secureTransport === true,
  }
}

/** The refusal style of `requireToken`: the realm it is given, no HSTS (it has no issuer of its own). */
export function tokenRefusalStyle(options: RequireTokenOptions): RefusalStyle {
  return { realm: options.realm ?? 'api', hsts: false }
}

/**
 * The response for a refusal: the JSON error, `WWW-Authenticate` on a 401, and the
 * security headers (with HSTS when `style.hsts`). Anything but an `AuthError` (a failing
 * `rolesOf`, a bug) is thrown back, for the framework's own error handling.
 */
export function refusal(error: unknown, style: RefusalStyle): Response {
  if (!(error instanceof AuthError)) throw error
  return toResponse(secureReply(errorReply(error, style.realm), style.hsts))
}

/** Whether a path (after the mount prefix) is one the Latchkey handler serves. */
export function isLatchkeyPath(pathname: string): boolean {
  return (
    pathname === '/auth' ||
    pathname.startsWith('/auth/') ||
    pathname.startsWith('/.well-known/') ||
    pathname === '/healthz'
  )
}

/** A mount prefix, checked: empty, or `/name` with no trailing slash. */
export function checkedPrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === '' || prefix === '/') return ''
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(prefix)) {
    throw new ConfigError('prefix must look like "/name" or "/a/b", without a trailing slash')
  }
  return prefix
}

// A route that accepts one credential must not be decided by the other: a Bearer header
// would otherwise win over the cookie, and a cookie answer a route meant for tokens.
function onlyCredential(
  request: CredentialRequest,
  via: 'cookie' | 'bearer' | undefined,
): CredentialRequest {
  if (via === undefined) return request
  const hidden = via === 'cookie' ? 'authorization' : 'cookie'
  return {
    method: request.method,
    headers: { get: (name) => (name.toLowerCase() === hidden ? null : request.headers.get(name)) },
  }
}

function rolesOfClaims(claims: AccessTokenClaims): string[] {
  const scopes = claims.scope?.split(' ').filter((word) => word !== '') ?? []
  return [...(claims.roles ?? []), ...scopes]
}

/**
 * Refuses with 403 `insufficient_role` when a required role is not held; for a Bearer
 * credential (`bearer`), the refusal names the route's roles for the challenge.
 */
function requireRoles(held: readonly string[], required: readonly string[], bearer: boolean): void {
  const missing = required.find((role) => !held.includes(role))
  if (missing !== undefined) {
    throw new AuthError('insufficient_role', `This action needs the "${missing}" role.`, {
      ...(bearer ? { scope: required.join(' ') } : {}),
    })
  }
}

function checkedAuthOptions(options: RequireAuthOptions): RequireAuthOptions {
  const { via, freshWithinMs } = options
  if (via !== undefined && via !== 'cookie' && via !== 'bearer') {
    throw new ConfigError('via must be "cookie" or "bearer"')
  }
  if (
    freshWithinMs !== undefined &&
    (typeof freshWithinMs !== 'number' || !Number.isFinite(freshWithinMs) || freshWithinMs <= 0)
  ) {
    throw new ConfigError('freshWithinMs must be a positive number of milliseconds')
  }
  return { via, roles: checkedRoles(options.roles), freshWithinMs }
}

function checkedRoles(roles: unknown): readonly string[] {
  if (roles === undefined) return []
  if (!Array.isArray(roles) || !roles.every((role) => typeof role === 'string' && role !== '')) {
    throw new ConfigError('roles must be an array of non-empty strings')
  }
  return roles as readonly string[]
}
