import { createPublicKey, createSecretKey, generateKeyPairSync, hkdfSync } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { ConfigError } from '../errors.js'

/** The JWS algorithms Latchkey signs with; every key is bound to exactly one of them. */
export type SigningAlg = 'EdDSA' | 'ES256' | 'RS256' | 'HS256'

/** The algorithms whose keys may be published in a JWKS (HS256 keys are secret). */
export type PublicAlg = Exclude<SigningAlg, 'HS256'>

/** Every supported algorithm; anything else is refused wherever an alg is read. */
export const SIGNING_ALGS: readonly SigningAlg[] = ['EdDSA', 'ES256', 'RS256', 'HS256']

/** EdDSA (Ed25519): small keys, fast, no nonce to get wrong. */
export const DEFAULT_ALG: SigningAlg = 'EdDSA'

/** The smallest RSA modulus Latchkey generates or accepts. */
export const MIN_RSA_BITS = 2048

/** The shortest secret that may enable HS256 (its output size, RFC 7518 §3.2). */
export const MIN_HMAC_SECRET_BYTES = 32

/** Key material of a new signing key. For HS256 both halves are the same secret key. */
export interface KeyPair {
  privateKey: KeyObject
  publicKey: KeyObject
}

/** Whether a value names a supported algorithm (exact, case-sensitive). */
export function isSigningAlg(value: unknown): value is SigningAlg {
  return value === 'EdDSA' || value === 'ES256' || value === 'RS256' || value === 'HS256'
}

/** Whether a value names an algorithm that may appear in a JWKS. */
export function isPublicAlg(value: unknown): value is PublicAlg {
  return value === 'EdDSA' || value === 'ES256' || value === 'RS256'
}

/** Throws a ConfigError unless `secret` may enable HS256. */
export function assertHmacSecret(secret: Uint8Array | undefined): asserts secret is Uint8Array {
  if (secret === undefined) {
    throw new ConfigError('HS256 needs a configured secret; it is meant for one-service setups')
  }
  if (secret.byteLength < MIN_HMAC_SECRET_BYTES) {
    throw new ConfigError(`The HS256 secret must be at least ${MIN_HMAC_SECRET_BYTES} bytes`)
  }
}

/**
 * Generates the key material for a new key of `alg`. HS256 keys are derived from the
 * configured secret and the kid, so that every node holding the secret computes the
 * same key and a rotation still yields a different one.
 */
export function generateSigningKey(
  alg: SigningAlg,
  kid: string,
  options: { hmacSecret?: Uint8Array; rsaBits?: number } = {},
): KeyPair {
  switch (alg) {
    case 'EdDSA':
      return generateKeyPairSync('ed25519')
    case 'ES256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' })
    case 'RS256': {
      const modulusLength = options.rsaBits ?? MIN_RSA_BITS
      if (!Number.isSafeInteger(modulusLength) || modulusLength < MIN_RSA_BITS) {
        throw new ConfigError(`RS256 keys must have at least ${MIN_RSA_BITS} bits`)
      }
      return generateKeyPairSync('rsa', { modulusLength, publicExponent: 0x10001 })
    }
    case 'HS256': {
      assertHmacSecret(options.hmacSecret)
      const key = createSecretKey(hmacKeyBytes(options.hmacSecret, kid))
      return { privateKey: key, publicKey: key }
    }
  }
}

/** The HS256 key of one kid: HKDF-SHA256 of the configured secret. */
export function hmacKeyBytes(secret: Uint8Array, kid: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'latchkey', `latchkey/hs256/${kid}`, 32))
}

/** The key that verifies what `privateKey` signs (the secret itself for HS256). */
export function verificationKeyOf(privateKey: KeyObject): KeyObject {
  return privateKey.type === 'secret' ? privateKey : createPublicKey(privateKey)
}

/**
 * Whether `key` is of the kind `alg` needs. Checked wherever a key enters a keyring or
 * a key set, so that an entry's alg and key can never disagree (no key confusion).
 */
export function keyMatchesAlg(alg: SigningAlg, key: KeyObject): boolean {
  if (alg === 'HS256') {
    return key.type === 'secret' && (key.symmetricKeySize ?? 0) >= MIN_HMAC_SECRET_BYTES
  }
  if (key.type === 'secret') return false
  const details = key.asymmetricKeyDetails
  switch (alg) {
    case 'EdDSA':
      return key.asymmetricKeyType === 'ed25519'
    case 'ES256':
      return key.asymmetricKeyType === 'ec' && details?.namedCurve === 'prime256v1'
    case 'RS256':
      return key.asymmetricKeyType === 'rsa' && (details?.modulusLength ?? 0) >= MIN_RSA_BITS
  }
}
