import type { HeaderReader } from '../http/header-reader.js'
import { hmac, safeEqual } from '../crypto/keys.js'

export const CSRF_HEADER = 'x-csrf-token'

/** The CSRF token bound to one session: HMAC of its id under a key derived for CSRF. */
export function csrfTokenFor(csrfKey: Uint8Array, loginId: string): string {
  return hmac(csrfKey, `session:${loginId}`)
}

/** Whether the request carries the token of this session, compared in constant time. */
export function hasCsrfToken(headers: HeaderReader, csrfKey: Uint8Array, loginId: string): boolean {
  const presented = headers.get(CSRF_HEADER)
  return presented !== null && safeEqual(presented, csrfTokenFor(csrfKey, loginId))
}

/** The origin of a `Referer`, or `null` when it has none. */
function refererOrigin(headers: HeaderReader): string | null {
  const referer = headers.get('referer')
  if (referer === null) return null
  try {
    return new URL(referer).origin
  } catch {
    return null
  }
}

/**
 * Where a browser says a request comes from, judged against the trusted origins.
 * `cross-site`: a browser sent it from a foreign site; `trusted`: same origin or a
 * trusted one; `unknown`: no browser signal at all (a non-browser client).
 */
export type RequestSource = 'trusted' | 'cross-site' | 'unknown'

export function requestSource(headers: HeaderReader, trusted: ReadonlySet<string>): RequestSource {
  const site = headers.get('sec-fetch-site')
  if (site === 'cross-site') return 'cross-site'
  const origin = headers.get('origin') ?? refererOrigin(headers)
  // `Origin: null` (sandboxed frames, some redirects) and look-alike hosts are not
  // members of the set: the comparison is on the exact serialized origin.
  if (origin !== null) return trusted.has(origin) ? 'trusted' : 'cross-site'
  if (site === 'same-origin' || site === 'none') return 'trusted'
  if (site === 'same-site') return 'cross-site'
  return 'unknown'
}
