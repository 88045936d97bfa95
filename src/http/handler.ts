import { AuthError } from '../errors.js'
import type { App } from './app.js'
import type { ConnectionInfo } from './client.js'
import { errorResponse, secureHeaders } from './responses.js'
import { createRouter } from './router.js'
import { authRoutes } from './routes/auth.js'
import { healthRoutes } from './routes/health.js'
import { refreshRoutes } from './routes/refresh.js'
import { sessionRoutes } from './routes/sessions.js'
import { wellKnownRoutes } from './routes/well-known.js'

/** The whole HTTP API as one function from Request to Response. */
export type Handler = (request: Request, connection?: ConnectionInfo) => Promise<Response>

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

  return async (request, connection = {}) => {
    let response: Response
    try {
      const match = route(request.method, new URL(request.url).pathname)
      if (match instanceof AuthError) throw match
      response = await match.handler(request, { params: match.params, connection })
    } catch (error) {
      if (!(error instanceof AuthError)) {
        logger.error(`${request.method} ${new URL(request.url).pathname} failed`, error)
      }
      response = errorResponse(
        error instanceof AuthError
          ? error
          : new AuthError('internal_error', 'Something went wrong on our side.'),
        realm,
      )
    }
    secureHeaders(response.headers, hsts)
    if (request.method === 'HEAD' && response.body !== null) {
      // What GET would answer, without the content.
      return new Response(null, {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers,
      })
    }
    return response
  }
}
