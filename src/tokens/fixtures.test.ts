/*
 * Shared fixtures of the token tests. It holds no test itself; the `.test.ts` suffix keeps
 * it out of the published build.
 */
import assert from 'node:assert/strict'
import { AuthError } from '../errors.js'
import type { ErrorCode } from '../errors.js'
import { createAccessTokenVerifier } from './access-token-verifier.js'
import type { AccessTokenVerifierOptions } from './access-token-verifier.js'
import type { SigningAlg } from './algorithms.js'
import type { SigningKey } from './access-token.js'
import { memoryKeyStore } from './key-store.js'
import type { KeyStore } from './key-store.js'
import { Keyring } from './keyring.js'
import { signBytes } from './signature.js'

/** A frozen "now": 2023-11-14T22:13:20Z. */
export const NOW = 1_700_000_000_000
export const NOW_SECONDS = NOW / 1000
export const ISSUER = 'https://auth.example.com'
export const AUDIENCE = 'https://api.example.com'
export const MASTER_SECRET = Buffer.alloc(32, 7)
export const HMAC_SECRET = Buffer.alloc(32, 9)

/** A keyring of one alg whose first key signs from NOW. */
export async function keyringFor(
  alg: SigningAlg,
  store: KeyStore = memoryKeyStore(),
): Promise<{ keyring: Keyring; key: SigningKey; store: KeyStore }> {
  const keyring = new Keyring({ store, masterSecret: MASTER_SECRET, alg, hmacSecret: HMAC_SECRET })
  const key = await keyring.ensure(NOW)
  return { keyring, key, store }
}

/** The server's strict verifier over a keyring, at the frozen NOW unless told. */
export function verifierFor(
  keyring: Keyring,
  options: Partial<AccessTokenVerifierOptions> = {},
): (token: unknown, now?: number) => unknown {
  const verify = createAccessTokenVerifier({
    resolveKey: keyring.resolveKey,
    issuer: ISSUER,
    audience: AUDIENCE,
    ...options,
  })
  return (token, now = NOW) => verify(token as string, now)
}

/** Claims of a token valid at NOW, with any of them overridden or (as undefined) removed. */
export function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base = {
    iss: ISSUER,
    sub: 'user-1',
    aud: AUDIENCE,
    exp: NOW_SECONDS + 600,
    iat: NOW_SECONDS,
    jti: 'jti-1',
    sid: 'login-1',
    ver: 3,
  }
  return withOverrides(base, overrides)
}

/** The header Latchkey writes for a key, with any member overridden or removed. */
export function header(
  key: SigningKey,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return withOverrides({ alg: key.alg, typ: 'at+jwt', kid: key.kid }, overrides)
}

function withOverrides(
  base: Record<string, unknown>,
  overrides: Record<string, unknown>,
): Record<string, unknown> {
  const result = { ...base }
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete result[name]
    else result[name] = value
  }
  return result
}

/** base64url of JSON, or of raw bytes / text as given. */
export function segment(value: unknown): string {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64url')
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url')
}

/** A compact token from raw segments, signed by `sign` over `header.payload`. */
export function forgeSegments(
  headerSegment: string,
  payloadSegment: string,
  sign: (input: Buffer) => Uint8Array,
): string {
  const input = `${headerSegment}.${payloadSegment}`
  return `${input}.${Buffer.from(sign(Buffer.from(input, 'latin1'))).toString('base64url')}`
}

/** A token with the given header and payload, correctly signed by `key`. */
export function signedWith(key: SigningKey, head: unknown, payload: unknown): string {
  return forgeSegments(segment(head), segment(payload), (input) =>
    signBytes(key.alg, key.privateKey, input),
  )
}

/** Asserts that `run` throws an AuthError with `code` whose message matches `message`. */
export function assertAuthError(run: () => unknown, code: ErrorCode, message?: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof AuthError, `expected an AuthError, got ${String(error)}`)
    assert.equal(error.code, code, `code (message: ${error.message})`)
    if (message !== undefined) assert.match(error.message, message)
    return true
  })
}

/** Same as assertAuthError for promises. */
export async function assertRejectsAuth(
  promise: Promise<unknown>,
  code: ErrorCode,
  message?: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof AuthError, `expected an AuthError, got ${String(error)}`)
    assert.equal(error.code, code, `code (message: ${error.message})`)
    if (message !== undefined) assert.match(error.message, message)
    return true
  })
}
