import type { HeaderReader } from '../http/header-reader.js'
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
export function readSessionCookie(headers: HeaderReader): string | null {
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

/**
 * The refresh token of a browser in token mode. `__Secure-` rather than `__Host-`: a
 * `__Host-` cookie must have `Path=/`, and this one is sent to the refresh route only.
 */
export const REFRESH_COOKIE = '__Secure-latchkey-refresh'
export const REFRESH_PATH = '/auth/refresh'

/** The refresh cookie's value, or `null` when absent, sent twice, or not parsable. */
export function readRefreshCookie(headers: HeaderReader): string | null {
  const header = headers.get('cookie')
  if (header === null || header.length > MAX_COOKIE_HEADER) return null
  if (countCookies(header, REFRESH_COOKIE) !== 1) return null
  const value = parse(header)[REFRESH_COOKIE]
  return value === undefined || value === '' ? null : value
}

/** `Set-Cookie` for a refresh token, host-only, sent to the refresh route alone. */
export function refreshCookie(token: string, maxAgeSeconds: number): string {
  return serialize(REFRESH_COOKIE, token, {
    httpOnly: true,
    secure: true,
    path: REFRESH_PATH,
    sameSite: 'strict',
    maxAge: Math.max(0, Math.floor(maxAgeSeconds)),
  })
}

/** `Set-Cookie` that removes the refresh cookie. */
export function clearedRefreshCookie(): string {
  return refreshCookie('', 0)
}
