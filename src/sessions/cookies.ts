import { parse, serialize } from 'cookie'

/**
 * `__Host-` makes the browser insist on Secure, Path=/ and no Domain, so a sibling
 * subdomain cannot plant or overwrite it (cookie tossing, fixation).
 */
export const SESSION_COOKIE = '__Host-latchkey-session'

// A session token is 66 characters; anything far longer is not ours, and parsing a
// hostile multi-kilobyte header should cost nothing.
const MAX_COOKIE_HEADER = 8192

/** The session cookie's value, or `null` when absent, sent twice, or not parsable. */
export function readSessionCookie(headers: Headers): string | null {
  const header = headers.get('cookie')
  if (header === null || header.length > MAX_COOKIE_HEADER) return null
  // The browser keeps one `__Host-` cookie of a name per host, so a second one was
  // planted (cookie tossing from a sibling, a browser with a prefix bypass). Which one
  // comes first is the attacker's to choose (a longer Path wins): trust neither.
  if (countCookies(header, SESSION_COOKIE) !== 1) return null
  const value = parse(header)[SESSION_COOKIE]
  return value === undefined || value === '' ? null : value
}

function countCookies(header: string, name: string): number {
  let count = 0
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq !== -1 && pair.slice(0, eq).trim() === name) count += 1
  }
  return count
}

/** `Set-Cookie` for a new session that the browser keeps until its absolute expiry. */
export function sessionCookie(token: string, maxAgeSeconds: number): string {
  return serialize(SESSION_COOKIE, token, {
    httpOnly: true,
    secure: true,
    path: '/',
    sameSite: 'lax',
    maxAge: Math.max(0, Math.floor(maxAgeSeconds)),
  })
}

/** `Set-Cookie` that removes the session cookie. */
export function clearedSessionCookie(): string {
  return serialize(SESSION_COOKIE, '', {
    httpOnly: true,
    secure: true,
    path: '/',
    sameSite: 'lax',
    maxAge: 0,
  })
}
