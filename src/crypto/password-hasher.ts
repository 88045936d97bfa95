import { hash, verify, type Algorithm } from '@node-rs/argon2'

/** argon2id cost parameters. memoryCost is in KiB. */
export interface Argon2Params {
  memoryCost: number
  timeCost: number
  parallelism: number
}

/**
 * OWASP's recommended minimum for argon2id (m = 19 MiB, t = 2, p = 1). Set explicitly:
 * the library's own defaults differ.
 */
export const OWASP_ARGON2ID: Argon2Params = { memoryCost: 19_456, timeCost: 2, parallelism: 1 }

/** Hashes and checks passwords. Implementations must not block the event loop. */
export interface PasswordHasher {
  hash(password: string): Promise<string>
  verify(storedHash: string, password: string): Promise<boolean>
  /** True when a stored hash was made with other parameters than the current ones. */
  needsRehash(storedHash: string): boolean
}

// The package exports `Algorithm` as a const enum, which isolated modules cannot read.
const ARGON2ID = 2 as Algorithm

const PHC = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/

/** argon2id through @node-rs/argon2, whose async calls run on libuv's thread pool. */
export function argon2idHasher(params: Argon2Params = OWASP_ARGON2ID): PasswordHasher {
  const options = { algorithm: ARGON2ID, ...params, outputLen: 32 }
  return {
    hash: (password) => hash(password, options),
    async verify(storedHash, password) {
      if (!PHC.test(storedHash)) return false
      return verify(storedHash, password)
    },
    needsRehash(storedHash) {
      const match = PHC.exec(storedHash)
      if (match === null) return true
      return (
        Number(match[1]) !== params.memoryCost ||
        Number(match[2]) !== params.timeCost ||
        Number(match[3]) !== params.parallelism
      )
    },
  }
}
