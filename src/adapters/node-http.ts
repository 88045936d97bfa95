import { getRequestListener, RequestError } from '@hono/node-server'
import { createServer } from 'node:http'
import type { IncomingMessage, OutgoingHttpHeaders, Server, ServerResponse } from 'node:http'
import type { Http2ServerRequest } from 'node:http2'
import { AuthError } from '../errors.js'
import type { CredentialRequest } from '../http/authenticate.js'
import type { ConnectionInfo } from '../http/client.js'
import type { ApiRequest, Handler, ReplyHandler } from '../http/handler.js'
import type { HeaderReader } from '../http/header-reader.js'
import { errorReply, internalError, secureReply, toResponse } from '../http/responses.js'
import type { Reply } from '../http/responses.js'
import { headerOf, readIncoming } from './guard-node.js'

/** A `(Request) => Response` function of the app's own, served through @hono/node-server. */
export type WebHandler = (request: Request, connection?: ConnectionInfo) => Promise<Response>

/** Options of the node:http adapter. */
export interface NodeServerOptions {
  /**
   * For a {@link WebHandler} only: let @hono/node-server replace the global `Request` and
   * `Response` with its compatible lightweight classes (its own default). A Response
   * built from them is written to the socket without a stream round trip: about twice
   * the throughput in `npm run bench`. Turn off when the process must keep undici's
   * classes. Latchkey's own handler builds neither, and changes no global.
   */
  overrideGlobalObjects?: boolean
}

/**
 * Serves Latchkey's handler on node:http: its replies are written to node's response as
 * they are, with no web `Request`, `Headers` or `Response` around them. Any other
 * `(Request) => Response` function is served through @hono/node-server, which builds the
 * Request lazily (see `bench/RESULTS.md` for the measurement against plain node:http and
 * a naive copy into a Request).
 */
export function createNodeServer(
  handler: Handler | WebHandler,
  options: NodeServerOptions = {},
): Server {
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
  handler: Handler | WebHandler,
  options: NodeServerOptions = {},
): (incoming: IncomingMessage, outgoing: ServerResponse) => void {
  if ('reply' in handler) return replyListener(handler.reply)
  const listener = getRequestListener(
    (request, env) => handler(request, connectionOf(env.incoming)),
    {
      // A RequestError means no Request could be built (a bad Host header, a backslash
      // in the path): the client's fault, answered like any other bad input. The
      // handler itself never rejects; if it ever did, that is ours to own.
      errorHandler: (error) => toResponse(error instanceof RequestError ? malformed() : failed()),
      overrideGlobalObjects: options.overrideGlobalObjects ?? true,
    },
  )
  return (incoming, outgoing) => {
    // The listener answers every failure itself; nothing is left to reject.
    void listener(incoming, outgoing)
  }
}

/** The listener's own answer to `error`, outside the handler: no issuer, so no HSTS. */
const listenerReply = (error: AuthError) => secureReply(errorReply(error, 'latchkey'), false)
/** The answer when no request can be read from what the client sent (see `pathnameOf`). */
const malformed = () =>
  listenerReply(new AuthError('invalid_request', 'The request line or headers are malformed.'))
/** The answer when the handler itself failed: never expected, since it answers its errors. */
const failed = () => listenerReply(internalError())

/**
 * Latchkey's API on node:http, with no web `Request`, `Headers` or `Response` built. They
 * run seldom enough on a refresh (one per 600 requests in the benchmark) to run with cold
 * caches each time: one server switching between the two paths spent 1.78 ms of CPU per
 * refresh this way, 2.08 ms through them (see `bench/RESULTS.md`).
 */
function replyListener(
  reply: ReplyHandler,
): (incoming: IncomingMessage, outgoing: ServerResponse) => void {
  return (incoming, outgoing) => {
    const head = incoming.method === 'HEAD'
    const pathname = pathnameOf(incoming)
    // A path that no URL could hold is the client's fault, answered like any bad input.
    const answer =
      pathname === null
        ? Promise.resolve(malformed())
        : reply(apiRequestOf(incoming), pathname, connectionOf(incoming))
    // The handler answers every failure itself; a rejection would be ours to own.
    answer.then(
      (replied) => writeReply(outgoing, replied, head),
      () => writeReply(outgoing, failed(), head),
    )
  }
}

/** Writes a reply as it is: its headers, its cookies, its length, its JSON. */
function writeReply(outgoing: ServerResponse, reply: Reply, head: boolean): void {
  const headers: OutgoingHttpHeaders = reply.headers
  if (reply.cookies.length > 0) headers['set-cookie'] = reply.cookies
  if (reply.body !== null) headers['content-length'] = Buffer.byteLength(reply.body)
  try {
    outgoing.writeHead(reply.status, headers)
  } catch {
    // A header value node refuses: never one a client can put there, but not a crash.
    if (reply.status !== 500) writeReply(outgoing, failed(), head)
    return
  }
  // node:http sends no content for HEAD; the length stays that of GET.
  outgoing.end(head || reply.body === null ? undefined : reply.body)
}

/**
 * The path of the request target, or `null` when no URL holds it: a backslash in the
 * path, no Host, a Host that is not a host. The same checks as @hono/node-server's, so
 * that both listeners refuse alike; an absolute-form target is taken as it is.
 */
function pathnameOf(incoming: IncomingMessage): string | null {
  const target = incoming.url ?? ''
  const backslash = target.indexOf('\\')
  if (backslash !== -1) {
    const query = target.indexOf('?')
    if (query === -1 || backslash < query) return null
  }
  try {
    if (target[0] !== '/' && (target.startsWith('http://') || target.startsWith('https://'))) {
      return new URL(target).pathname
    }
    const host = incoming.headers.host
    if (host === undefined || host === '') return null
    const url = new URL(`http://${host}${target}`)
    if (url.hostname.length !== host.length && url.hostname !== host.replace(/:\d+$/, '')) {
      return null
    }
    return url.pathname
  } catch {
    return null
  }
}

/** The request as the API reads it: its body comes from `connectionOf`'s reader. */
function apiRequestOf(incoming: IncomingMessage): ApiRequest {
  return { method: incoming.method ?? 'GET', headers: new NodeHeaders(incoming), body: null }
}

/**
 * The connection as the handler sees it. A body is read from the IncomingMessage itself:
 * through `request.body`, @hono/node-server would build an undici Request and two web
 * streams around it, which made a refresh cost the server about half as much again under
 * load (see `bench/RESULTS.md`).
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
  return { method: incoming.method ?? 'GET', headers: new NodeHeaders(incoming) }
}

/**
 * The headers of a node:http request as `credentialsOf` describes them. A class, not an
 * object literal with its own `get`: that closure was a new function on every request,
 * which V8 links to its compiled code on its first call (under callgrind, half the
 * lazy-compile calls of a cached request).
 */
class NodeHeaders implements HeaderReader {
  readonly #incoming: IncomingMessage

  constructor(incoming: IncomingMessage) {
    this.#incoming = incoming
  }

  get(name: string): string | null {
    // Callers ask in lower case: no new string then.
    const wanted = name === 'authorization' || name === 'cookie' ? name : name.toLowerCase()
    if (wanted === 'authorization') {
      return rawHeader(this.#incoming.rawHeaders, wanted, 'Authorization', false)
    }
    if (wanted === 'cookie') return rawHeader(this.#incoming.rawHeaders, wanted, 'Cookie', true)
    // Others (content type, CSRF checks, user agent) from `incoming.headers` itself.
    return headerOf(this.#incoming.headers, wanted)
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
