/** An address as the user typed it (trimmed) and its lookup key. */
export interface Email {
  email: string
  normalized: string
}

const MAX_LENGTH = 254
const MAX_LOCAL_LENGTH = 64
// One @, no whitespace or control characters, a dotted domain: enough to catch typos
// without rejecting real addresses. Ownership is proven by mail, not by a regex.
const SHAPE = /^[^\s@\p{Cc}]+@[^\s@\p{Cc}]+\.[^\s@\p{Cc}.]+$/u

/** Validates an email address; `null` when it is not one. Unique ignoring case. */
export function parseEmail(raw: string): Email | null {
  const email = raw.trim().normalize('NFC')
  if (email.length > MAX_LENGTH || !SHAPE.test(email)) return null
  const at = email.lastIndexOf('@')
  if (at > MAX_LOCAL_LENGTH) return null
  return { email, normalized: email.toLowerCase() }
}
