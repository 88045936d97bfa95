import type { HeaderReader } from '../http/header-reader.js'
import { serialize } from 'cookie'

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
  return soleCookie(headers.get('cookie'), SESSION_COOKIE)
}

/**
 * The value of cookie `name` in a Cookie header, read as `cookie`'s `parse` reads it: pairs
 * split at ";", a pair without "=" skipped, name and value trimmed of spaces and tabs, the
 * value percent-decoded when it holds a "%" (kept as sent when that fails). `null` when the
 * name is absent, or its value empty, or the header too long to be ours.
 *
 * Also `null` when the name appears twice. The browser keeps one `__Host-` or `__Secure-`
 * cookie of a name per host, so a second one was planted (cookie tossing from a sibling, a
 * browser with a prefix bypass). Which one comes first is the attacker's to choose (a longer
 * Path wins): trust neither.
 *
 * Written here rather than calling `parse` because every protected request reads it:
 * `parse` builds an object of every cookie in the header, and a second pass counted the
 * duplicates: about 5 700 of the 11 500 instructions a cached cookie session cost over an
 * unprotected route (medians of three callgrind runs; `bench/RESULTS.md`), and 1.3 of
 * the 1.6 µs of `peek` on a cookie in-process. One pass, no allocation but the value.
 * `cookies.test.ts` holds it to `parse`.
 */
export function soleCookie(header: string | null, name: string): string | null {
  if (header === null || header.length > MAX_COOKIE_HEADER) return null
  const length = header.length
  let valueStart = -1
  let valueEnd = -1
  let index = 0
  while (index < length) {
    const eq = header.indexOf('=', index)
    if (eq === -1) break
    let end = header.indexOf(';', index)
    if (end === -1) end = length
    if (eq > end) {
      // Pairs without "=" up to the one holding it: skipped at once, as `parse` does, so a
      // header of many ";" costs one pass, not one scan to the "=" per pair.
      index = header.lastIndexOf(';', eq - 1) + 1
      continue
    }
    let start = index
    while (start < eq && isBlank(header.charCodeAt(start))) start += 1
    let nameEnd = eq
    while (nameEnd > start && isBlank(header.charCodeAt(nameEnd - 1))) nameEnd -= 1
    if (nameEnd - start === name.length && header.startsWith(name, start)) {
      if (valueStart !== -1) return null
      valueStart = eq + 1
      valueEnd = end
    }
    index = end + 1
  }
  while (valueStart < valueEnd && isBlank(header.charCodeAt(valueStart))) valueStart += 1
  while (valueEnd > valueStart && isBlank(header.charCodeAt(valueEnd - 1))) valueEnd -= 1
  if (valueStart >= valueEnd) return null
  return percentDecoded(header.slice(valueStart, valueEnd))
}

const isBlank = (code: number) => code === 0x20 || code === 0x09

function percentDecoded(value: string): string {
  if (!value.includes('%')) return value
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
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
  return soleCookie(headers.get('cookie'), REFRESH_COOKIE)
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
