import type { SigningAlg } from './algorithms.js'

/**
 * A signing key as stored. Times are epoch milliseconds. The private key exists only
 * encrypted (see `key-encryption.ts`); everything else is public information.
 */
export interface SigningKeyRecord {
  kid: string
  alg: SigningAlg
  /** The public JWK as JSON, with kid, alg and use; `null` for HS256, which is never published. */
  publicJwk: string | null
  /** `v1.<nonce>.<ciphertext>.<tag>`: AES-256-GCM, with kid and alg as associated data. */
  encryptedPrivateKey: string
  createdAt: number
  /** When the key may start signing; until then it is only published. */
  activatesAt: number
  /** When the key stops signing (may lie in the future: its successor's activation). */
  retiredAt: number | null
  /** When the key leaves the JWKS and may be deleted: every token it signed has expired. */
  expiresAt: number | null
}

/** The persistence a keyring needs: four domain operations, no generic CRUD. */
export interface KeyStore {
  /** Every stored key, in no particular order. */
  listSigningKeys(): Promise<SigningKeyRecord[]>
  /** Stores a new key; a duplicate kid is an error. */
  insertSigningKey(record: SigningKeyRecord): Promise<void>
  /** Sets the retirement of a key not yet retired; `false` if none (unknown or already retired). */
  retireSigningKey(kid: string, retiredAt: number, expiresAt: number): Promise<boolean>
  /** Deletes a key; deleting an unknown kid does nothing. */
  deleteSigningKey(kid: string): Promise<void>
}

/** An in-memory KeyStore for tests and demos; records are copied in and out. */
export function memoryKeyStore(initial: readonly SigningKeyRecord[] = []): KeyStore {
  const records = new Map<string, SigningKeyRecord>()
  for (const record of initial) records.set(record.kid, { ...record })
  return {
    listSigningKeys: () => Promise.resolve([...records.values()].map((record) => ({ ...record }))),
    insertSigningKey(record) {
      if (records.has(record.kid)) {
        return Promise.reject(new Error('A signing key with this kid already exists'))
      }
      records.set(record.kid, { ...record })
      return Promise.resolve()
    },
    retireSigningKey(kid, retiredAt, expiresAt) {
      const record = records.get(kid)
      if (record === undefined || record.retiredAt !== null) return Promise.resolve(false)
      records.set(kid, { ...record, retiredAt, expiresAt })
      return Promise.resolve(true)
    },
    deleteSigningKey(kid) {
      records.delete(kid)
      return Promise.resolve()
    },
  }
}
