import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createSecretKey,
  randomBytes,
} from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { deriveKey } from '../crypto/keys.js'
import type { SigningAlg } from './algorithms.js'

/*
 * Private signing keys at rest: AES-256-GCM under a key derived from the master secret
 * (HKDF, purpose "key-encryption"), a fresh 96-bit nonce per record, and the kid and alg
 * as associated data, so a record whose kid or alg was edited no longer decrypts (a
 * stored key cannot be re-labelled as another algorithm). The format is versioned so
 * that the scheme can change without guessing what an old record is.
 */

const VERSION = 'v1'
const NONCE_BYTES = 12
const TAG_BYTES = 16

/** Thrown when a record does not decrypt: wrong master secret, or a tampered record. */
export class KeyDecryptionError extends Error {
  override readonly name = 'KeyDecryptionError'
}

/** Encrypts a private key (PKCS#8 DER; raw bytes for HS256) for storage. */
export function encryptPrivateKey(
  masterSecret: Uint8Array,
  kid: string,
  alg: SigningAlg,
  privateKey: KeyObject,
): string {
  const plaintext =
    privateKey.type === 'secret'
      ? privateKey.export()
      : privateKey.export({ format: 'der', type: 'pkcs8' })
  const nonce = randomBytes(NONCE_BYTES)
  const cipher = createCipheriv('aes-256-gcm', deriveKey(masterSecret, 'key-encryption'), nonce)
  cipher.setAAD(associatedData(kid, alg))
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  plaintext.fill(0)
  const parts = [nonce, ciphertext, cipher.getAuthTag()].map((part) => part.toString('base64url'))
  return [VERSION, ...parts].join('.')
}

/** Decrypts a stored private key; throws {@link KeyDecryptionError} on any mismatch. */
export function decryptPrivateKey(
  masterSecret: Uint8Array,
  kid: string,
  alg: SigningAlg,
  encrypted: string,
): KeyObject {
  const [version, nonce, ciphertext, tag, extra] = encrypted.split('.')
  if (version !== VERSION || nonce === undefined || ciphertext === undefined || tag === undefined) {
    throw new KeyDecryptionError(`Signing key ${kid}: unknown encryption format`)
  }
  if (extra !== undefined) throw new KeyDecryptionError(`Signing key ${kid}: malformed record`)
  const nonceBytes = Buffer.from(nonce, 'base64url')
  const tagBytes = Buffer.from(tag, 'base64url')
  if (nonceBytes.length !== NONCE_BYTES || tagBytes.length !== TAG_BYTES) {
    throw new KeyDecryptionError(`Signing key ${kid}: malformed record`)
  }
  let plaintext: Buffer
  try {
    const key = deriveKey(masterSecret, 'key-encryption')
    const decipher = createDecipheriv('aes-256-gcm', key, nonceBytes, { authTagLength: TAG_BYTES })
    decipher.setAAD(associatedData(kid, alg))
    decipher.setAuthTag(tagBytes)
    plaintext = Buffer.concat([
      decipher.update(Buffer.from(ciphertext, 'base64url')),
      decipher.final(),
    ])
  } catch (cause) {
    throw new KeyDecryptionError(
      `Signing key ${kid} does not decrypt: wrong master secret, or the record was altered`,
      { cause },
    )
  }
  try {
    return alg === 'HS256'
      ? createSecretKey(plaintext)
      : createPrivateKey({ key: plaintext, format: 'der', type: 'pkcs8' })
  } finally {
    plaintext.fill(0)
  }
}

/** Unambiguous (JSON) encoding of the labels the ciphertext is bound to. */
function associatedData(kid: string, alg: SigningAlg): Buffer {
  return Buffer.from(JSON.stringify(['latchkey/signing-key/v1', kid, alg]), 'utf8')
}
