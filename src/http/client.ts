import type { ClientInfo } from '../sessions/sessions.js'
import type { CredentialRequest } from './authenticate.js'

/** What the transport adapter knows about the connection. */
export interface ConnectionInfo {
  /** The peer's address as the socket sees it. */
  remoteAddress?: string | undefined
  /**
   * The request's body as the adapter reads it from its own transport, used instead of
   * `request.body` (the Node adapters' `readIncoming`). Resolves with the bytes, or `null`
   * as soon as more than `limit` arrived (what follows is the adapter's to drop or cut
   * off); rejects when the body cannot be read. Called at most once per request.
   */
  readBody?: ((limit: number) => Promise<Uint8Array | null>) | undefined
}

/**
 * The client's address: the socket's, or, behind `hops` trusted proxies, the entry they
 * appended to `X-Forwarded-For` (entries further left are the client's to forge).
 */
export function clientInfo(
  request: CredentialRequest,
  connection: ConnectionInfo,
  hops: number,
): ClientInfo {
  let ip = connection.remoteAddress ?? null
  if (hops > 0) {
    const forwarded = (request.headers.get('x-forwarded-for') ?? '')
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '')
    const entry = forwarded[forwarded.length - hops]
    if (entry !== undefined && entry.length <= 45) ip = entry
  }
  return { ip, userAgent: request.headers.get('user-agent') }
}
