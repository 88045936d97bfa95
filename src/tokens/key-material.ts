import { exportJWK } from 'jose'
import { ConfigError } from '../errors.js'
import { randomId } from '../crypto/opaque-token.js'
import { generateSigningKey, keyMatchesAlg, verificationKeyOf } from './algorithms.js'
import type { PublicAlg, SigningAlg } from './algorithms.js'
import type { SigningKey } from './access-token.js'
import type { VerificationKey } from './jws.js'
import { decryptPrivateKey, encryptPrivateKey, KeyDecryptionError } from './key-encryption.js'
import type { SigningKeyRecord } from './key-store.js'

/** A public JWK as published: always with kid, one alg and `use: "sig"`, never private parts. */
export interface PublicJwk {
  kty: string
  kid: string
  alg: PublicAlg
  use: 'sig'
  [member: string]: unknown
}

/** A stored key made usable: decrypted once, its verification key prepared once. */
export interface LoadedKey {
  record: SigningKeyRecord
  signing: SigningKey
  verification: VerificationKey
  jwk: PublicJwk | null
}

/** What a new key needs besides its times. */
export interface KeyMaterialOptions {
  masterSecret: Uint8Array
  hmacSecret?: Uint8Array
  rsaBits?: number
}

/** The public members of each key type; anything else (d, p, q, ...) is never copied. */
const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  OKP: ['kty', 'crv', 'x'],
  EC: ['kty', 'crv', 'x', 'y'],
  RSA: ['kty', 'n', 'e'],
}

/** Generates a key of `alg` and its stored record (private key encrypted). */
export async function createKeyRecord(
  alg: SigningAlg,
  times: { createdAt: number; activatesAt: number },
  options: KeyMaterialOptions,
): Promise<SigningKeyRecord> {
  const kid = randomId()
  const { privateKey, publicKey } = generateSigningKey(alg, kid, options)
  let publicJwk: string | null = null
  if (alg !== 'HS256') {
    const exported = publicMembers(await exportJWK(publicKey))
    publicJwk = JSON.stringify({ ...exported, kid, alg, use: 'sig' })
  }
  return {
    kid,
    alg,
    publicJwk,
    encryptedPrivateKey: encryptPrivateKey(options.masterSecret, kid, alg, privateKey),
    createdAt: times.createdAt,
    activatesAt: times.activatesAt,
    retiredAt: null,
    expiresAt: null,
  }
}

/**
 * Decrypts a stored key and checks that its alg, private key and published JWK agree.
 * A mismatch is a wrong master secret or a tampered store: fatal, never skipped.
 */
export function loadKey(record: SigningKeyRecord, masterSecret: Uint8Array): LoadedKey {
  const { kid, alg } = record
  let privateKey
  try {
    privateKey = decryptPrivateKey(masterSecret, kid, alg, record.encryptedPrivateKey)
  } catch (cause) {
    const message = cause instanceof KeyDecryptionError ? cause.message : `Signing key ${kid}`
    throw new ConfigError(message, { cause })
  }
  if (!keyMatchesAlg(alg, privateKey)) {
    throw new ConfigError(`Signing key ${kid} is not a valid ${alg} key`)
  }
  const verification = { alg, key: verificationKeyOf(privateKey) }
  const jwk = alg === 'HS256' ? null : publishedJwk(record, verification)
  return { record, signing: { kid, alg, privateKey }, verification, jwk }
}

function publishedJwk(record: SigningKeyRecord, verification: VerificationKey): PublicJwk {
  const stored: unknown = record.publicJwk === null ? null : JSON.parse(record.publicJwk)
  const actual = publicMembers(verification.key.export({ format: 'jwk' }))
  const matches =
    typeof stored === 'object' &&
    stored !== null &&
    Object.entries(actual).every(
      ([name, value]) => (stored as Record<string, unknown>)[name] === value,
    )
  if (!matches) throw new ConfigError(`Signing key ${record.kid}: stored public JWK does not match`)
  return {
    ...actual,
    kty: String(actual.kty),
    kid: record.kid,
    alg: record.alg as PublicAlg,
    use: 'sig',
  }
}

function publicMembers(jwk: Record<string, unknown>): Record<string, unknown> {
  const names = PUBLIC_MEMBERS[String(jwk.kty)]
  if (names === undefined) throw new ConfigError(`Unsupported key type ${String(jwk.kty)}`)
  return Object.fromEntries(names.map((name) => [name, jwk[name]]))
}
