/**
 * `latchkey/express`: the Latchkey HTTP API mounted into an Express app, and middleware
 * that protects the app's own routes. Only translation lives here; `guard.ts` decides.
 */
import type {
  NextFunction,
  Request as ExpressRequest,
  RequestHandler,
  Response as ExpressResponse,
} from 'express'
import type { Caller } from '../http/app.js'
import type { Handler } from '../http/handler.js'
import type { AccessTokenClaims } from '../tokens/claims.js'
import {
  callerGuard,
  isLatchkeyPath,
  refusal,
  refusalStyleOf,
  tokenRefusalStyle,
  settle,
  tokenGuard,
  type RefusalStyle,
} from './guard.js'
import { credentialRequest, webRequest } from './guard-node.js'
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

declare global {
  // Declaration merging is how Express types what middleware adds to a request.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The caller, set by `requireAuth`. */
      auth?: Caller
      /** The verified access-token claims, set by `requireToken`. */
      claims?: AccessTokenClaims
    }
  }
}

/** What the Express adapter needs of a Latchkey (`createLatchkey` returns one). */
export interface ExpressLatchkey extends CallerSource {
  handler: Handler
}

/** The Express side of a Latchkey; see {@link latchkeyExpress}. */
export interface LatchkeyExpress {
  /**
   * Middleware serving the Latchkey API (`/auth/*`, `/.well-known/*`, `/healthz`) and
   * passing every other request on. Mount it before any body parser (`app.use(routes())`,
   * or `app.use('/idp', routes())` under a path). After `express.json()` the parsed body
   * is sent on re-serialized: a bad body is then answered by the parser, not by Latchkey.
   */
  routes: () => RequestHandler
  /** Middleware admitting a caller (cookie or Bearer) into `req.auth`, or answering 401/403. */
  requireAuth: (options?: RequireAuthOptions) => RequestHandler
}

/** Creates the Express adapter over a Latchkey; `rolesOf` serves every `roles` option. */
export function latchkeyExpress(
  latchkey: ExpressLatchkey,
  options: AdapterOptions = {},
): LatchkeyExpress {
  const style = refusalStyleOf(latchkey)
  return {
    routes() {
      return (req, res, next) => {
        if (!isLatchkeyPath(req.path)) {
          next()
          return
        }
        const { request, connection } = toRequest(req)
        latchkey
          .handler(request, connection)
          .then((response) => send(res, response))
          .catch(next)
      }
    },
    requireAuth(authOptions) {
      const guard = callerGuard(latchkey, authOptions, options.rolesOf)
      return (req, res, next) => {
        settle(
          () => guard(credentialRequest(req.method, req.headers)),
          (caller) => {
            req.auth = caller
            next()
          },
          (error) => refuse(res, next, error, style),
        )
      }
    },
  }
}

/**
 * Middleware for a service that only verifies Latchkey access tokens (`latchkey/verify`):
 * a Bearer token's claims into `req.claims`, or 401/403.
 */
export function requireToken(
  verifier: TokenVerifier,
  options: RequireTokenOptions = {},
): RequestHandler {
  const guard = tokenGuard(verifier, options)
  const style = tokenRefusalStyle(options)
  return (req, res, next) => {
    guard(credentialRequest(req.method, req.headers))
      .then((claims) => {
        req.claims = claims
        next()
      })
      .catch((error: unknown) => refuse(res, next, error, style))
  }
}

/** The caller `requireAuth` admitted; throws when the route is not behind it (a bug). */
export function callerOf(req: ExpressRequest): Caller {
  if (req.auth === undefined) throw new Error('callerOf: the route is not behind requireAuth')
  return req.auth
}

function refuse(
  res: ExpressResponse,
  next: NextFunction,
  error: unknown,
  style: RefusalStyle,
): void {
  let response: Response
  try {
    response = refusal(error, style)
  } catch (unexpected) {
    next(unexpected)
    return
  }
  send(res, response).catch(next)
}

function toRequest(req: ExpressRequest): ReturnType<typeof webRequest> {
  const parsed: unknown = req.body
  // A body parser that ran first drained the stream; its result is all that is left.
  const body = parsed === undefined ? req : reserialized(parsed)
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
  // `req.url` is relative to the mount path, which is what the handler routes on.
  return webRequest(
    req.method,
    req.headers,
    req.url,
    hasBody ? body : undefined,
    req.socket.remoteAddress,
  )
}

function reserialized(parsed: unknown): BodyInit {
  if (Buffer.isBuffer(parsed)) return new Uint8Array(parsed)
  if (typeof parsed === 'string') return parsed
  return JSON.stringify(parsed)
}

async function send(res: ExpressResponse, response: Response): Promise<void> {
  res.status(response.status)
  for (const [name, value] of response.headers) {
    if (name !== 'set-cookie') res.setHeader(name, value)
  }
  const cookies = response.headers.getSetCookie()
  if (cookies.length > 0) res.setHeader('set-cookie', cookies)
  res.end(Buffer.from(await response.arrayBuffer()))
}
