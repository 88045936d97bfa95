import { getRequestListener } from '@hono/node-server'
import { createServer, type Server } from 'node:http'
import { AuthError } from '../errors.js'
import type { Handler } from '../http/handler.js'
import { errorResponse, secureHeaders } from '../http/responses.js'

/**
 * Serves a `(Request) => Response` handler on node:http. The translation is
 * @hono/node-server's, which builds the Request lazily (see the README for the
 * measurement against plain node:http and a naive copy into a Request).
 */
export function createNodeServer(handler: Handler): Server {
  const listener = getRequestListener(
    (request, env) => handler(request, { remoteAddress: env.incoming.socket.remoteAddress }),
    {
      // Reached only when no Request could be built (a bad Host header, a backslash in
      // the path): the client's fault, answered like any other bad input.
      errorHandler: () => {
        const error = new AuthError('invalid_request', 'The request line or headers are malformed.')
        const response = errorResponse(error, 'latchkey')
        secureHeaders(response.headers, false)
        return response
      },
      // The process may be an application's own: its Request and Response stay untouched.
      overrideGlobalObjects: false,
    },
  )
  return createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (incoming, outgoing) => {
    // The listener answers every failure itself; nothing is left to reject.
    void listener(incoming, outgoing)
  })
}
