import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'

/** What a key derived from the master secret is for; each purpose gets an independent key. */
export type KeyPurpose = 'csrf' | 'key-encryption' | 'rate-limit' | 'refresh'

/** Derives a 32-byte key for one purpose from the master secret (HKDF-SHA256). */
export function deriveKey(masterSecret: Uint8Array, purpose: KeyPurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', masterSecret, 'latchkey', `latchkey/${purpose}/v1`, 32))
}

export function hmac(key: Uint8Array, message: string): string {
  return createHmac('sha256', key).update(message, 'utf8').digest('base64url')
}

/** Constant-time equality of two strings (their lengths are not secret). */
export function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8')
  const right = Buffer.from(b, 'utf8')
  return left.length === right.length && timingSafeEqual(left, right)
}
