/**
 * Translation shared by the adapters of Node-based frameworks (Express, Fastify), whose
 * requests carry Node's header record rather than a `Headers`.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import { Readable as NodeReadable } from 'node:stream'
import type { CredentialRequest } from '../http/authenticate.js'

/** What authentication reads of a Node-style request, without copying its headers. */
export function credentialRequest(method: string, headers: IncomingHttpHeaders): CredentialRequest {
  return { method, headers: { get: (name) => headerOf(headers, name) } }
}

/** One header of Node's header record, as `Headers.get` would answer it. */
export function headerOf(headers: IncomingHttpHeaders, name: string): string | null {
  const value = headers[name.toLowerCase()]
  if (value === undefined) return null
  return Array.isArray(value) ? value.join(', ') : value
}

/**
 * A web `Request` for the Latchkey handler. `path` is relative to the mount point (the
 * handler routes on its own paths); `body` is the unread request stream, or bytes.
 */
export function webRequest(
  method: string,
  headers: IncomingHttpHeaders,
  path: string,
  body: Readable | BodyInit | undefined,
): Request {
  const copy = new Headers()
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    for (const item of Array.isArray(value) ? value : [value]) copy.append(name, item)
  }
  const init: RequestInit & { duplex?: 'half' } = { method, headers: copy }
  if (body instanceof NodeReadable) {
    // Streamed as it arrives: the handler bounds the body while reading it.
    init.body = NodeReadable.toWeb(body) as ReadableStream<Uint8Array>
    init.duplex = 'half'
  } else if (body !== undefined) {
    copy.delete('content-length')
    copy.delete('transfer-encoding')
    init.body = body
  }
  return new Request(new URL(`${originOf(headers.host)}${path}`), init)
}

function originOf(host: string | undefined): string {
  try {
    return new URL(`http://${host ?? 'localhost'}`).origin
  } catch {
    // The handler routes on the path only; a malformed Host must not stop it.
    return 'http://localhost'
  }
}
