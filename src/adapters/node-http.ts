import { getRequestListener, RequestError } from '@hono/node-server'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Http2ServerRequest } from 'node:http2'
import { AuthError } from '../errors.js'
import type { CredentialRequest } from '../http/authenticate.js'
import type { ConnectionInfo } from '../http/client.js'
import type { Handler } from '../http/handler.js'
import { headerOf, readIncoming } from './guard-node.js'
import { errorResponse, secureHeaders } from '../http/responses.js'

/** Options of the node:http adapter. */
export interface NodeServerOptions {
  /**
   * Let @hono/node-server replace the global `Request` and `Response` with its
   * compatible lightweight classes (its own default). A Response built from them is
   * written to the socket without a stream round trip: about twice the throughput in
   * `npm run bench`. Turn off when the process must keep undici's classes.
   */
  overrideGlobalObjects?: boolean
}

/**
 * Serves a `(Request) => Response` handler on node:http. The translation is
 * @hono/node-server's, which builds the Request lazily (see the README for the
 * measurement against plain node:http and a naive copy into a Request).
 */
export function createNodeServer(handler: Handler, options: NodeServerOptions = {}): Server {
  return createServer(
    { requestTimeout: 30_000, headersTimeout: 10_000 },
    createNodeListener(handler, options),
  )
}

/**
 * The same translation as a node:http request listener, for a server of the app's own:
 * send `/auth/*`, `/.well-known/*` and `/healthz` here and keep the other routes.
 */
export function createNodeListener(
  handler: Handler,
  options: NodeServerOptions = {},
): (incoming: IncomingMessage, outgoing: ServerResponse) => void {
  const listener = getRequestListener(
    (request, env) => handler(request, connectionOf(env.incoming)),
    {
      // A RequestError means no Request could be built (a bad Host header, a backslash
      // in the path): the client's fault, answered like any other bad input. The
      // handler itself never rejects; if it ever did, that is ours to own.
      errorHandler: (error) => {
        const response = errorResponse(
          error instanceof RequestError
            ? new AuthError('invalid_request', 'The request line or headers are malformed.')
            : new AuthError('internal_error', 'Something went wrong on our side.'),
          'latchkey',
        )
        secureHeaders(response.headers, false)
        return response
      },
      overrideGlobalObjects: options.overrideGlobalObjects ?? true,
    },
  )
  return (incoming, outgoing) => {
    // The listener answers every failure itself; nothing is left to reject.
    void listener(incoming, outgoing)
  }
}

/**
 * The connection as the handler sees it. A body is read from the IncomingMessage itself:
 * through `request.body`, @hono/node-server would build an undici Request and two web
 * streams around it, which made a refresh cost the server about half as much again under
 * load (see the README's benchmark notes).
 */
function connectionOf(incoming: IncomingMessage | Http2ServerRequest): ConnectionInfo {
  const connection: ConnectionInfo = { remoteAddress: incoming.socket.remoteAddress }
  if (incoming.method !== 'GET' && incoming.method !== 'HEAD') {
    connection.readBody = (limit) => readIncoming(incoming, limit)
  }
  return connection
}

/**
 * A node:http request as `latchkey.authenticate` reads it, without copying its headers
 * into a `Headers` (which costs more than the check itself on a cached credential). The
 * credential headers are read from `rawHeaders` as the parser left them: node:http builds
 * `incoming.headers` on first use, for every header, and on a route that reads no other
 * header that costs about as much as the check. Repeated headers are merged as
 * `incoming.headers` merges them: cookies joined with "; ", the first Authorization kept.
 */
export function credentialsOf(incoming: IncomingMessage): CredentialRequest {
  return {
    method: incoming.method ?? 'GET',
    headers: {
      get(name) {
        // Callers ask in lower case: no new string then.
        const wanted = name === 'authorization' || name === 'cookie' ? name : name.toLowerCase()
        if (wanted === 'authorization') {
          return rawHeader(incoming.rawHeaders, wanted, 'Authorization', false)
        }
        if (wanted === 'cookie') return rawHeader(incoming.rawHeaders, wanted, 'Cookie', true)
        // Others (the CSRF checks of an unsafe request) from `incoming.headers` itself.
        return headerOf(incoming.headers, wanted)
      },
    },
  }
}

/**
 * The value of header `name` (lower case) in node's `rawHeaders` list; `join`: all of them.
 * The name as clients usually write it, lower case or `canonical`, is matched without
 * building a lower-case copy of it.
 */
function rawHeader(
  raw: readonly string[],
  name: string,
  canonical: string,
  join: boolean,
): string | null {
  let found: string | null = null
  for (let index = 0; index + 1 < raw.length; index += 2) {
    const field = raw[index]!
    if (field.length !== name.length) continue
    if (field !== canonical && field !== name && field.toLowerCase() !== name) continue
    const value = raw[index + 1]!
    if (!join) return value
    found = found === null ? value : `${found}; ${value}`
  }
  return found
}
