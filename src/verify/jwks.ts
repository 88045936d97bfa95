import { KeyObject } from 'node:crypto'
import { importJWK } from 'jose'
import { isPublicAlg, keyMatchesAlg } from '../tokens/algorithms.js'
import type { PublicAlg } from '../tokens/algorithms.js'
import type { VerificationKey } from '../tokens/jws.js'

/** The only key type and curve each published algorithm may use. */
const KEY_TYPES: Record<PublicAlg, { kty: string; crv?: string; members: readonly string[] }> = {
  EdDSA: { kty: 'OKP', crv: 'Ed25519', members: ['kty', 'crv', 'x'] },
  ES256: { kty: 'EC', crv: 'P-256', members: ['kty', 'crv', 'x', 'y'] },
  RS256: { kty: 'RSA', members: ['kty', 'n', 'e'] },
}

/** Members that only a private or symmetric JWK has; a JWKS carrying one is not trusted. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

/** A JWKS document that is not a JSON object with a `keys` array. */
export class JwksFormatError extends Error {
  override readonly name = 'JwksFormatError'
}

/**
 * Parses a JWKS strictly into kid → (alg, key). A key is used only if it has a kid, an
 * `alg` we support, the key type and curve of that alg, no private members, and a `use`
 * of "sig" (or none); anything else is skipped, not guessed at. A kid that appears twice
 * is dropped altogether: which of the two keys is meant cannot be known.
 */
export async function parseJwks(document: unknown): Promise<Map<string, VerificationKey>> {
  if (!isRecord(document) || !Array.isArray(document.keys)) {
    throw new JwksFormatError('The JWKS is not a JSON object with a "keys" array')
  }
  const keys = new Map<string, VerificationKey>()
  const duplicates = new Set<string>()
  for (const jwk of document.keys as unknown[]) {
    const imported = await importPublicJwk(jwk)
    if (imported === undefined) continue
    if (keys.has(imported.kid)) duplicates.add(imported.kid)
    keys.set(imported.kid, imported.key)
  }
  for (const kid of duplicates) keys.delete(kid)
  return keys
}

async function importPublicJwk(
  jwk: unknown,
): Promise<{ kid: string; key: VerificationKey } | undefined> {
  if (!isRecord(jwk)) return undefined
  const { kid, alg, use } = jwk
  if (typeof kid !== 'string' || kid === '' || !isPublicAlg(alg)) return undefined
  if (use !== undefined && use !== 'sig') return undefined
  if (jwk.key_ops !== undefined && !isVerifyOps(jwk.key_ops)) return undefined
  const type = KEY_TYPES[alg]
  if (jwk.kty !== type.kty || jwk.crv !== type.crv) return undefined
  if (PRIVATE_MEMBERS.some((member) => member in jwk)) return undefined
  const members = Object.fromEntries(type.members.map((name) => [name, jwk[name]]))
  try {
    // jose checks the members' shapes (and RSA >= 2048 bits); node:crypto then needs a KeyObject.
    const imported = await importJWK({ ...members, alg }, alg)
    if (imported instanceof Uint8Array) return undefined
    const key = KeyObject.from(imported)
    if (key.type !== 'public' || !keyMatchesAlg(alg, key)) return undefined
    return { kid, key: { alg, key } }
  } catch {
    return undefined
  }
}

function isVerifyOps(ops: unknown): boolean {
  return Array.isArray(ops) && ops.includes('verify')
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
