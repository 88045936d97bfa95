import type { KeyObject } from 'node:crypto'
import { AuthError } from '../errors.js'
import { isSigningAlg } from './algorithms.js'
import type { SigningAlg } from './algorithms.js'
import { verifySignature } from './signature.js'

/*
 * The strict JWS (compact, RFC 7515) core shared by the server and `latchkey/verify`.
 *
 * Why hand-written on node:crypto rather than jose or fast-jwt: measured with
 * `node --import tsx bench/jwt.ts` (Node 20.20.2, AMD EPYC, 2 shared cores; best of 8
 * interleaved rounds), full strict verification per call, verifications per second and
 * slowdown against bare `crypto.verify` on pre-decoded bytes:
 *
 *   alg     raw node:crypto   latchkey        fast-jwt (no cache)   jose jwtVerify
 *   EdDSA    9 443            9 186  1.03x    8 929  1.06x          5 226  1.81x
 *   ES256   15 493           14 705  1.05x   14 373  1.08x          6 975  2.22x
 *   RS256   46 200           39 550  1.17x   37 431  1.23x          8 383  5.51x
 *   (HS256 probe, own cost per token: latchkey 2.6 µs, fast-jwt 3.9 µs)
 *
 * jose pays for WebCrypto's asynchronous verify; fast-jwt for its generic decoder and
 * option machinery. jose still serves where speed does not matter: JWK export in the
 * keyring and JWK import in `latchkey/verify`. Here each KeyObject is prepared once per
 * key, and a token costs a few string scans, one JSON parse of the payload (the header
 * of an already verified key is remembered), and one `crypto.verify`.
 */

/** A key as the verifier needs it: the one algorithm it is bound to, and the key. */
export interface VerificationKey {
  alg: SigningAlg
  key: KeyObject
}

/** Looks a `kid` up; only ever a map lookup, never a path, query or fetch. */
export type KeyResolver = (kid: string) => VerificationKey | undefined

/** A decoded JSON object from a token header or payload. */
export type JsonObject = Record<string, unknown>

/** A token whose form and signature have been checked, claims not yet. */
export interface VerifiedJws {
  /** Frozen: the decoded header may be shared with other tokens of the same key. */
  header: Readonly<JsonObject>
  payload: JsonObject
}

/** The default upper bound on a token's length, far above any token Latchkey issues. */
export const DEFAULT_MAX_TOKEN_BYTES = 8 * 1024

// fatal: invalid UTF-8 throws instead of becoming U+FFFD; ignoreBOM: a BOM stays in the
// text, so JSON.parse refuses it rather than the decoder silently dropping it.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * Checks the compact form, the header and the signature of `token`, in that order, and
 * returns the decoded header and payload. The payload is not even parsed before the
 * signature holds, so no claim can leak from a forged token.
 */
export function verifyJws(
  token: unknown,
  resolveKey: KeyResolver,
  maxTokenBytes: number = DEFAULT_MAX_TOKEN_BYTES,
): VerifiedJws {
  if (typeof token !== 'string') throw invalid('The token must be a string')
  // Length in UTF-16 units: anything non-ASCII fails the base64url checks below anyway.
  if (token.length > maxTokenBytes) throw invalid(`The token is longer than ${maxTokenBytes} bytes`)
  const first = token.indexOf('.')
  const second = first === -1 ? -1 : token.indexOf('.', first + 1)
  if (second === -1 || token.indexOf('.', second + 1) !== -1) {
    throw invalid('A token has exactly three dot-separated segments')
  }
  const headerSegment = token.slice(0, first)
  const cached = verifiedHeaders.get(headerSegment)
  const header = cached ?? parseJsonObject(decodeSegment(headerSegment, 'header'), 'header')
  const payloadBytes = decodeSegment(token.slice(first + 1, second), 'payload')
  const signature = decodeSegment(token.slice(second + 1), 'signature')
  if (signature.length === 0) throw invalid('The token has no signature')

  const { alg, key } = keyForHeader(header, resolveKey)
  const signingInput = Buffer.from(token.slice(0, second), 'latin1')
  if (!verifySignature(alg, key, signingInput, signature)) {
    throw invalid('The token signature is invalid')
  }
  if (cached === undefined) rememberHeader(headerSegment, header)
  return { header, payload: parseJsonObject(payloadBytes, 'payload') }
}

/**
 * Decoded headers of correctly signed tokens, by their exact segment text. Every token of
 * one key shares one header, so this saves a decode and a JSON parse per token. Only the
 * decoding is cached: the checks of keyForHeader and the key lookup run every time, and
 * only a header that came with a valid signature gets in, so garbage cannot fill it.
 */
const verifiedHeaders = new Map<string, Readonly<JsonObject>>()
const MAX_VERIFIED_HEADERS = 64

function rememberHeader(segment: string, header: JsonObject): void {
  if (verifiedHeaders.size >= MAX_VERIFIED_HEADERS) verifiedHeaders.clear()
  verifiedHeaders.set(segment, Object.freeze(header))
}

/** The key for a header: the alg is the key's, and the header must merely agree with it. */
function keyForHeader(header: Readonly<JsonObject>, resolveKey: KeyResolver): VerificationKey {
  const alg = header.alg
  if (typeof alg !== 'string') throw invalid('The "alg" header is missing or not a string')
  if (alg.toLowerCase() === 'none') throw invalid('Unsigned tokens ("alg": "none") are refused')
  if (!isSigningAlg(alg)) throw invalid('The "alg" header names an algorithm that is not accepted')
  // We implement no JWS extension, so any "crit" (even an empty list) is one we cannot honour.
  if (header.crit !== undefined) throw invalid('The "crit" header lists unsupported extensions')
  if (header.b64 !== undefined) throw invalid('The "b64" header (RFC 7797) is not supported')
  // jwk, jku, x5u, x5c and x5t are never read: keys come from the keyring only.
  const kid = header.kid
  if (typeof kid !== 'string') throw invalid('The "kid" header is missing or not a string')
  const entry = resolveKey(kid)
  if (entry === undefined) {
    throw invalid('No signing key has this "kid" (unknown, or retired and removed)')
  }
  if (entry.alg !== alg) throw invalid('The "alg" header does not match the key of this "kid"')
  return entry
}

/** Decodes one segment, refusing anything whose canonical re-encoding differs. */
function decodeSegment(segment: string, name: string): Buffer {
  // Buffer's decoder skips padding, whitespace and foreign characters and ignores stray
  // low bits, so a round trip is the exact test of canonical, unpadded base64url.
  const bytes = Buffer.from(segment, 'base64url')
  if (bytes.toString('base64url') !== segment) {
    throw invalid(`The token ${name} is not canonical unpadded base64url`)
  }
  return bytes
}

function parseJsonObject(bytes: Buffer, name: string): JsonObject {
  let value: unknown
  try {
    value = JSON.parse(utf8.decode(bytes))
  } catch {
    throw invalid(`The token ${name} is not JSON in valid UTF-8`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`The token ${name} is not a JSON object`)
  }
  return value as JsonObject
}

function invalid(message: string): AuthError {
  return new AuthError('invalid_token', message)
}
