import { AuthError } from '../errors.js'

// The API serves JSON only: nothing here should ever be framed, sniffed, cached by a
// shared cache, or leak a URL through Referer.
const SECURITY_HEADERS: Record<string, string> = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-origin',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
}

const HSTS = 'max-age=31536000; includeSubDomains'

/**
 * An answer of the API as its routes build it, before a transport writes it: a web
 * `Response` (`toResponse`), or node's ServerResponse directly (the node:http adapter),
 * with no `Headers` or `Response` built around it.
 */
export interface Reply {
  status: number
  /** The JSON text; `null` for no content. */
  body: string | null
  /** By lower-case name; Set-Cookie lines are in `cookies`. */
  headers: Record<string, string>
  /** One Set-Cookie header each. */
  cookies: string[]
}

/** Adds the security headers (and HSTS behind https) that a reply does not set itself. */
export function secureReply(reply: Reply, hsts: boolean): Reply {
  const { headers } = reply
  for (const name in SECURITY_HEADERS) headers[name] ??= SECURITY_HEADERS[name]!
  if (hsts) headers['strict-transport-security'] = HSTS
  return reply
}

/** The reply as a web `Response`; for HEAD, without its content. */
export function toResponse(reply: Reply, head = false): Response {
  const headers = new Headers(reply.headers)
  for (const cookie of reply.cookies) headers.append('set-cookie', cookie)
  return new Response(head ? null : reply.body, { status: reply.status, headers })
}

/** A JSON reply; `setCookies` become one `Set-Cookie` header each. */
export function json(status: number, body: unknown, setCookies: string[] = []): Reply {
  return {
    status,
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json; charset=utf-8' },
    cookies: setCookies,
  }
}

export function noContent(setCookies: string[] = []): Reply {
  return { status: 204, body: null, headers: {}, cookies: setCookies }
}

/** What a failure of our own answers: never its cause, which goes to the logger. */
export const internalError = () =>
  new AuthError('internal_error', 'Something went wrong on our side.')

/** Space-separated scope tokens (RFC 6749 §3.3). */
const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/

/**
 * The wire form of an error; 401s name the scheme and the reason, and a Bearer token
 * refused for a missing role gets an `insufficient_scope` challenge (RFC 6750 §3).
 */
export function errorReply(error: AuthError, realm: string): Reply {
  const reply = json(error.status, { error: error.code, message: error.message })
  const { headers } = reply
  if (error.status === 401) headers['www-authenticate'] = challenge(error, realm)
  if (error.scope !== undefined) {
    // Roles are the app's own strings: named only when they are valid scope tokens.
    const scope = SCOPE.test(error.scope) ? `, scope="${error.scope}"` : ''
    headers['www-authenticate'] = `Bearer realm="${realm}", error="insufficient_scope"${scope}`
  }
  if (error.retryAfter !== undefined) headers['retry-after'] = String(error.retryAfter)
  if (error.allow !== undefined) headers['allow'] = error.allow
  return reply
}

function challenge(error: AuthError, realm: string): string {
  // No credentials, or wrong ones at login: a bare challenge. A credential that was
  // presented and refused: `invalid_token`, with our precise code as the description.
  if (error.code === 'unauthorized' || error.code === 'invalid_credentials') {
    return `Bearer realm="${realm}"`
  }
  return `Bearer realm="${realm}", error="invalid_token", error_description="${error.code}"`
}
