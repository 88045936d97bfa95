/**
 * `latchkey/hono`: the Latchkey HTTP API as a Hono sub-app, and middleware that protects
 * the app's own routes. Hono already speaks `Request` and `Response`, so the handler gets
 * the raw request as it is; `guard.ts` decides.
 */
import { Hono } from 'hono'
import type { Context, MiddlewareHandler } from 'hono'
import { routePath } from 'hono/route'
import type { Caller } from '../http/app.js'
import type { Handler } from '../http/handler.js'
import type { AccessTokenClaims } from '../tokens/claims.js'
import { callerGuard, refusal, refusalStyleOf, tokenRefusalStyle, tokenGuard } from './guard.js'
import type {
  AdapterOptions,
  CallerSource,
  RequireAuthOptions,
  RequireTokenOptions,
  TokenVerifier,
} from './guard.js'

export type {
  AdapterOptions,
  RequireAuthOptions,
  RequireTokenOptions,
  RolesOf,
  TokenVerifier,
} from './guard.js'
export { defaultRolesOf } from './guard.js'

/** The variables `requireAuth` sets: `c.get('auth')` is the caller. */
export interface AuthEnv {
  Variables: { auth: Caller }
}

/** The variables `requireToken` sets: `c.get('claims')` are the verified claims. */
export interface TokenEnv {
  Variables: { claims: AccessTokenClaims }
}

/** What the Hono adapter needs of a Latchkey (`createLatchkey` returns one). */
export interface HonoLatchkey extends CallerSource {
  handler: Handler
}

/** Options of the Hono adapter. */
export interface HonoAdapterOptions extends AdapterOptions {
  /**
   * The peer's address, for the login records and the rate limits. Default: the socket's
   * under @hono/node-server (`c.env.incoming`); none elsewhere.
   */
  remoteAddress?: (c: Context) => string | undefined
}

/** The Hono side of a Latchkey; see {@link latchkeyHono}. */
export interface LatchkeyHono {
  /**
   * The Latchkey API (`/auth/*`, `/.well-known/*`, `/healthz`) as a sub-app:
   * `app.route('/', routes())`, or `app.route('/idp', routes())` under a path.
   */
  routes: () => Hono
  /**
   * Middleware admitting a caller (cookie or Bearer) into `c.get('auth')`, or 401/403.
   * Typed in its route's handlers; with `app.use`, declare the app as `new Hono<AuthEnv>()`.
   */
  requireAuth: (options?: RequireAuthOptions) => MiddlewareHandler<AuthEnv>
}

const API_PATHS = ['/auth', '/auth/*', '/.well-known/*', '/healthz']

/** Creates the Hono adapter over a Latchkey; `rolesOf` serves every `roles` option. */
export function latchkeyHono(
  latchkey: HonoLatchkey,
  options: HonoAdapterOptions = {},
): LatchkeyHono {
  const style = refusalStyleOf(latchkey)
  const remoteAddress = options.remoteAddress ?? nodeServerAddress
  return {
    routes() {
      const api = new Hono()
      for (const path of API_PATHS) {
        api.all(path, (c) =>
          latchkey.handler(unprefixed(c, path), { remoteAddress: remoteAddress(c) }),
        )
      }
      return api
    },
    requireAuth(authOptions) {
      const guard = callerGuard(latchkey, authOptions, options.rolesOf)
      return async (c, next) => {
        try {
          c.set('auth', await guard(c.req.raw))
        } catch (error) {
          return refusal(error, style)
        }
        await next()
      }
    },
  }
}

/**
 * Middleware for a service that only verifies Latchkey access tokens (`latchkey/verify`):
 * a Bearer token's claims into `c.get('claims')`, or 401/403.
 */
export function requireToken(
  verifier: TokenVerifier,
  options: RequireTokenOptions = {},
): MiddlewareHandler<TokenEnv> {
  const guard = tokenGuard(verifier, options)
  const style = tokenRefusalStyle(options)
  return async (c, next) => {
    try {
      c.set('claims', await guard(c.req.raw))
    } catch (error) {
      return refusal(error, style)
    }
    await next()
  }
}

// The handler routes on its own paths. Mounted at the root the raw request goes through
// untouched; under a path, the same request minus the prefix.
function unprefixed(c: Context, registered: string): Request {
  const raw = c.req.raw
  const prefix = routePath(c).slice(0, -registered.length)
  if (prefix === '' || prefix === '/') return raw
  const url = new URL(raw.url)
  url.pathname = url.pathname.slice(prefix.length)
  const init: RequestInit & { duplex?: 'half' } = {
    method: raw.method,
    headers: raw.headers,
    body: raw.body,
    signal: raw.signal,
  }
  if (raw.body !== null) init.duplex = 'half'
  return new Request(url, init)
}

function nodeServerAddress(c: Context): string | undefined {
  const env: unknown = c.env
  if (typeof env !== 'object' || env === null || !('incoming' in env)) return undefined
  const incoming = env.incoming as { socket?: { remoteAddress?: string } } | undefined
  return incoming?.socket?.remoteAddress
}
