import { createHmac, sign, timingSafeEqual, verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import type { SigningAlg } from './algorithms.js'

/** The order n of the P-256 group: a valid ECDSA r and s lie in [1, n - 1]. */
const P256_ORDER = Buffer.from(
  'ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551',
  'hex',
)
const ES256_SIGNATURE_BYTES = 64
const ED25519_SIGNATURE_BYTES = 64
const HS256_SIGNATURE_BYTES = 32

/** The RSA signature length of each key, computed once (the details getter allocates). */
const rsaSignatureBytes = new WeakMap<KeyObject, number>()

/** Signs the JWS signing input with the algorithm the key is bound to. */
export function signBytes(alg: SigningAlg, privateKey: KeyObject, data: Uint8Array): Buffer {
  switch (alg) {
    case 'EdDSA':
      return sign(null, data, privateKey)
    case 'ES256':
      // JWS wants the raw R‖S form (RFC 7518 §3.4), not OpenSSL's default DER.
      return sign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' })
    case 'RS256':
      return sign('sha256', data, privateKey)
    case 'HS256':
      return createHmac('sha256', privateKey).update(data).digest()
  }
}

/**
 * Checks a signature with the algorithm of the key, never the token's. Every length is
 * checked exactly before OpenSSL sees the bytes, so DER-encoded or truncated ECDSA
 * signatures and r = 0 / s = 0 ("psychic signatures", CVE-2022-21449) are refused here
 * whatever the crypto library underneath would do.
 */
export function verifySignature(
  alg: SigningAlg,
  key: KeyObject,
  data: Uint8Array,
  signature: Buffer,
): boolean {
  switch (alg) {
    case 'EdDSA':
      if (key.type !== 'public' || signature.length !== ED25519_SIGNATURE_BYTES) return false
      return verify(null, data, key, signature)
    case 'ES256':
      if (key.type !== 'public' || !isCanonicalP256Signature(signature)) return false
      return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature)
    case 'RS256':
      if (key.type !== 'public' || signature.length !== rsaLength(key)) return false
      return verify('sha256', data, key, signature)
    case 'HS256': {
      // Only a secret key can verify HS256: a public key, in whatever encoding, never can.
      if (key.type !== 'secret' || signature.length !== HS256_SIGNATURE_BYTES) return false
      const expected = createHmac('sha256', key).update(data).digest()
      return timingSafeEqual(expected, signature)
    }
  }
}

/** Raw R‖S of exactly 64 bytes with 0 < r < n and 0 < s < n. */
function isCanonicalP256Signature(signature: Buffer): boolean {
  return (
    signature.length === ES256_SIGNATURE_BYTES &&
    inScalarRange(signature, 0) &&
    inScalarRange(signature, 32)
  )
}

/** Whether the 32-byte big-endian scalar at `offset` lies in [1, n - 1]; index loops, no copies. */
function inScalarRange(signature: Buffer, offset: number): boolean {
  let nonZero = 0
  for (let i = 0; i < 32; i++) nonZero |= signature[offset + i]!
  if (nonZero === 0) return false
  for (let i = 0; i < 32; i++) {
    const byte = signature[offset + i]!
    const order = P256_ORDER[i]!
    if (byte !== order) return byte < order
  }
  return false // equal to n
}

function rsaLength(key: KeyObject): number {
  let length = rsaSignatureBytes.get(key)
  if (length === undefined) {
    length = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8)
    rsaSignatureBytes.set(key, length)
  }
  return length
}
