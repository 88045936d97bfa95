/**
 * Translation shared by the adapters of Node-based frameworks (Express, Fastify), whose
 * requests carry Node's header record rather than a `Headers`, and by the node:http one.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import { Readable as NodeReadable } from 'node:stream'
import type { CredentialRequest } from '../http/authenticate.js'
import type { ConnectionInfo } from '../http/client.js'
import type { HeaderReader } from '../http/header-reader.js'

/** What authentication reads of a Node-style request, without copying its headers. */
export function credentialRequest(method: string, headers: IncomingHttpHeaders): CredentialRequest {
  return { method, headers: new RecordHeaders(headers) }
}

/** Node's header record read as `Headers.get` reads; a class, so no closure per request. */
class RecordHeaders implements HeaderReader {
  readonly #headers: IncomingHttpHeaders

  constructor(headers: IncomingHttpHeaders) {
    this.#headers = headers
  }

  get(name: string): string | null {
    return headerOf(this.#headers, name)
  }
}

/** One header of Node's header record, as `Headers.get` would answer it. */
export function headerOf(headers: IncomingHttpHeaders, name: string): string | null {
  const value = headers[name.toLowerCase()]
  if (value === undefined) return null
  return Array.isArray(value) ? value.join(', ') : value
}

/**
 * A web `Request` for the Latchkey handler, and the connection to hand it with. `path` is
 * relative to the mount point (the handler routes on its own paths); `body` is the unread
 * request stream, or bytes a body parser left. A stream is read by `connection.readBody`
 * (see {@link readIncoming}), not through a web stream around it.
 */
export function webRequest(
  method: string,
  headers: IncomingHttpHeaders,
  path: string,
  body: Readable | BodyInit | undefined,
  remoteAddress: string | undefined,
): { request: Request; connection: ConnectionInfo } {
  const copy = new Headers()
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    for (const item of Array.isArray(value) ? value : [value]) copy.append(name, item)
  }
  const connection: ConnectionInfo = { remoteAddress }
  const init: RequestInit = { method, headers: copy }
  if (body instanceof NodeReadable) {
    // Bounded by the handler while it reads.
    connection.readBody = (limit) => readIncoming(body, limit)
  } else if (body !== undefined) {
    copy.delete('content-length')
    copy.delete('transfer-encoding')
    init.body = body
  }
  return { request: new Request(new URL(`${originOf(headers.host)}${path}`), init), connection }
}

/**
 * What is read and dropped of a body past its limit, so that a keep-alive connection can
 * carry the next request, before the connection is closed instead.
 */
const DISCARDED_BYTES = 1024 * 1024

/**
 * Reads a request body from node's stream: the bytes, or `null` as soon as more than
 * `limit` arrived. The rest is then read and dropped (node:http does the same with a body
 * no one reads), and past DISCARDED_BYTES the stream is destroyed, closing the
 * connection. Rejects when the stream fails or closes before its end.
 */
export function readIncoming(incoming: Readable, limit: number): Promise<Uint8Array | null> {
  if (incoming.readableEnded) return Promise.reject(new Error('The body was already read.'))
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const settle = () => {
      incoming.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose)
    }
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength
      if (size <= limit) chunks.push(chunk)
      else if (size - chunk.byteLength <= limit) {
        chunks.length = 0
        resolve(null)
      } else if (size > limit + DISCARDED_BYTES) {
        settle()
        incoming.destroy()
      }
    }
    const onEnd = () => {
      settle()
      // Past the limit, `null` was the answer already.
      if (size <= limit) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size))
    }
    const onError = (error: Error) => {
      settle()
      reject(error)
    }
    const onClose = () => onError(new Error('The request closed before its body ended.'))
    incoming.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose)
  })
}

function originOf(host: string | undefined): string {
  try {
    return new URL(`http://${host ?? 'localhost'}`).origin
  } catch {
    // The handler routes on the path only; a malformed Host must not stop it.
    return 'http://localhost'
  }
}
