import type { AuthError } from '../errors.js'

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

/** Adds the security headers (and HSTS behind https) to a response's headers. */
export function secureHeaders(headers: Headers, hsts: boolean): Headers {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    if (!headers.has(name)) headers.set(name, value)
  }
  if (hsts) headers.set('strict-transport-security', 'max-age=31536000; includeSubDomains')
  return headers
}

/** A JSON response; `setCookies` become one `Set-Cookie` header each. */
export function json(status: number, body: unknown, setCookies: string[] = []): Response {
  const headers = new Headers({ 'content-type': 'application/json; charset=utf-8' })
  for (const cookie of setCookies) headers.append('set-cookie', cookie)
  return new Response(JSON.stringify(body), { status, headers })
}

export function noContent(setCookies: string[] = []): Response {
  const headers = new Headers()
  for (const cookie of setCookies) headers.append('set-cookie', cookie)
  return new Response(null, { status: 204, headers })
}

/** Space-separated scope tokens (RFC 6749 §3.3). */
const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/

/**
 * The wire form of an error; 401s name the scheme and the reason, and a Bearer token
 * refused for a missing role gets an `insufficient_scope` challenge (RFC 6750 §3).
 */
export function errorResponse(error: AuthError, realm: string): Response {
  const response = json(error.status, { error: error.code, message: error.message })
  if (error.status === 401) response.headers.set('www-authenticate', challenge(error, realm))
  if (error.scope !== undefined) {
    // Roles are the app's own strings: named only when they are valid scope tokens.
    const scope = SCOPE.test(error.scope) ? `, scope="${error.scope}"` : ''
    response.headers.set(
      'www-authenticate',
      `Bearer realm="${realm}", error="insufficient_scope"${scope}`,
    )
  }
  if (error.retryAfter !== undefined) response.headers.set('retry-after', String(error.retryAfter))
  if (error.allow !== undefined) response.headers.set('allow', error.allow)
  return response
}

function challenge(error: AuthError, realm: string): string {
  // No credentials, or wrong ones at login: a bare challenge. A credential that was
  // presented and refused: `invalid_token`, with our precise code as the description.
  if (error.code === 'unauthorized' || error.code === 'invalid_credentials') {
    return `Bearer realm="${realm}"`
  }
  return `Bearer realm="${realm}", error="invalid_token", error_description="${error.code}"`
}
