import { AuthError } from '../errors.js'
import type { App } from './app.js'
import type { CredentialRequest } from './authenticate.js'
import type { ConnectionInfo } from './client.js'
import { errorReply, internalError, secureReply, toResponse } from './responses.js'
import type { Reply } from './responses.js'
import { createRouter } from './router.js'
import { authRoutes } from './routes/auth.js'
import { healthRoutes } from './routes/health.js'
import { refreshRoutes } from './routes/refresh.js'
import { sessionRoutes } from './routes/sessions.js'
import { wellKnownRoutes } from './routes/well-known.js'

/** What the API reads of a request: its method, its headers, its body. A `Request` is one. */
export interface ApiRequest extends CredentialRequest {
  /** Read only when the connection has no reader of its own (`ConnectionInfo.readBody`). */
  readonly body: ReadableStream<Uint8Array> | null
}

/**
 * The API answering a {@link Reply} for a request and its path: for an adapter that writes
 * to its own transport. The security headers are in; a HEAD request's content is the
 * adapter's to leave out.
 */
export type ReplyHandler = (
  request: ApiRequest,
  pathname: string,
  connection?: ConnectionInfo,
) => Promise<Reply>

/** The whole HTTP API as one function from Request to Response. */
export interface Handler {
  (request: Request, connection?: ConnectionInfo): Promise<Response>
  /**
   * The same API without a web `Request` or `Response` around it: the node:http adapter
   * writes its replies straight to node's ServerResponse.
   */
  readonly reply: ReplyHandler
}

/** Where unexpected failures are reported; never given a credential. */
export interface ErrorLogger {
  error(message: string, error: unknown): void
}

export function createHandler(app: App, logger: ErrorLogger): Handler {
  const route = createRouter([
    ...authRoutes(app),
    ...refreshRoutes(app),
    ...sessionRoutes(app),
    ...healthRoutes(app),
    ...wellKnownRoutes(app),
  ])
  const realm = new URL(app.config.issuer).host
  const hsts = app.config.secureTransport

  const reply: ReplyHandler = async (request, pathname, connection = {}) => {
    let answer: Reply
    try {
      const match = route(request.method, pathname)
      if (match instanceof AuthError) throw match
      answer = await match.handler(request, { params: match.params, connection })
    } catch (error) {
      if (!(error instanceof AuthError)) {
        logger.error(`${request.method} ${pathname} failed`, error)
      }
      answer = errorReply(error instanceof AuthError ? error : internalError(), realm)
    }
    return secureReply(answer, hsts)
  }

  // HEAD: what GET would answer, without the content.
  const handler = async (request: Request, connection?: ConnectionInfo) =>
    toResponse(
      await reply(request, new URL(request.url).pathname, connection),
      request.method === 'HEAD',
    )
  return Object.assign(handler, { reply })
}
