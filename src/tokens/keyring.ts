import { systemClock } from '../clock.js'
import type { Clock } from '../clock.js'
import { ConfigError } from '../errors.js'
import { assertHmacSecret, DEFAULT_ALG, isSigningAlg } from './algorithms.js'
import type { SigningAlg } from './algorithms.js'
import { DEFAULT_ACCESS_TOKEN_TTL_SECONDS } from './access-token.js'
import type { SigningKey } from './access-token.js'
import { DEFAULT_SKEW_SECONDS } from './claims.js'
import type { KeyResolver, VerificationKey } from './jws.js'
import { createKeyRecord, loadKey } from './key-material.js'
import type { LoadedKey, PublicJwk } from './key-material.js'
import type { KeyStore, SigningKeyRecord } from './key-store.js'

/** How long a JWKS response may be cached (its Cache-Control max-age), in seconds. */
export const JWKS_MAX_AGE_SECONDS = 300

/** The Cache-Control header for `GET /.well-known/jwks.json`. */
export const JWKS_CACHE_CONTROL = `public, max-age=${JWKS_MAX_AGE_SECONDS}`

/** The smallest master secret the keyring accepts, in bytes. */
const MIN_MASTER_SECRET_BYTES = 32

/** How a keyring is built; validated in the constructor. */
export interface KeyringOptions {
  store: KeyStore
  /** The deployment's master secret; private keys are encrypted under a key derived from it. */
  masterSecret: Uint8Array
  /** The algorithm of new keys (default EdDSA). Existing keys keep their own. */
  alg?: SigningAlg
  /** Required for HS256 (at least 32 bytes); single-service deployments only. */
  hmacSecret?: Uint8Array
  /** RSA modulus of new RS256 keys (default and minimum 2048). */
  rsaBits?: number
  /** How long a new key is only published before it signs (default: the JWKS max-age). */
  publishDelayMs?: number
  /** The longest access-token TTL in use; a retired key stays published this long. */
  maxTokenTtlSeconds?: number
  /** The verifiers' clock skew, added to how long a retired key stays published. */
  skewSeconds?: number
  /** The clock of the `now` passed to `ensure`; dates each load of the keys (default `Date.now`). */
  clock?: Clock
}

/** The JWKS document (RFC 7517 §5). */
export interface Jwks {
  keys: PublicJwk[]
}

/** Where a key is in its life, for `latchkey keys list`. */
export type KeyStatus = 'pending' | 'signing' | 'published' | 'retired' | 'expired'

/** A key as an operator sees it; never any private material. */
export interface KeySummary {
  kid: string
  alg: SigningAlg
  status: KeyStatus
  createdAt: number
  activatesAt: number
  retiredAt: number | null
  expiresAt: number | null
}

/**
 * The signing keys of a deployment. A key's life: created and published (pending), signs
 * once `activatesAt` is reached and it is the newest active key, stops signing at
 * `retiredAt` (its successor's activation), and leaves the JWKS at `expiresAt`, when every
 * token it signed has expired. Every node must `refresh()` more often than the publish
 * delay, so that it switches to a successor exactly at its activation.
 */
export class Keyring {
  /** The longest access-token TTL this keyring's retention allows; sign no longer-lived token. */
  readonly maxTokenTtlSeconds: number
  /** The verifier's key lookup: a map lookup by kid, nothing else. */
  readonly resolveKey: KeyResolver = (kid) => this.keyFor(kid)
  readonly #store: KeyStore
  readonly #masterSecret: Uint8Array
  readonly #alg: SigningAlg
  readonly #hmacSecret: Uint8Array | undefined
  readonly #rsaBits: number | undefined
  readonly #publishDelayMs: number
  readonly #retentionMs: number
  readonly #clock: Clock
  #keys = new Map<string, LoadedKey>()
  /** When the read behind `#keys` began; `-Infinity` until a load succeeds. */
  #loadedAt = -Infinity
  #queue: Promise<unknown> = Promise.resolve()

  constructor(options: KeyringOptions) {
    const alg = options.alg ?? DEFAULT_ALG
    if (!isSigningAlg(alg)) throw new ConfigError('Unsupported signing algorithm')
    if (alg === 'HS256') assertHmacSecret(options.hmacSecret)
    if (options.masterSecret.byteLength < MIN_MASTER_SECRET_BYTES) {
      throw new ConfigError(`The master secret must be at least ${MIN_MASTER_SECRET_BYTES} bytes`)
    }
    const publishDelayMs = options.publishDelayMs ?? JWKS_MAX_AGE_SECONDS * 1000
    const ttl = options.maxTokenTtlSeconds ?? DEFAULT_ACCESS_TOKEN_TTL_SECONDS
    const skew = options.skewSeconds ?? DEFAULT_SKEW_SECONDS
    for (const [name, value] of Object.entries({ publishDelayMs, ttl, skew })) {
      if (!Number.isFinite(value) || value < 0) throw new ConfigError(`${name} must be >= 0`)
    }
    this.#store = options.store
    this.#masterSecret = options.masterSecret
    this.#alg = alg
    this.#hmacSecret = options.hmacSecret
    this.#rsaBits = options.rsaBits
    this.#publishDelayMs = publishDelayMs
    this.maxTokenTtlSeconds = ttl
    this.#retentionMs = (ttl + skew) * 1000
    this.#clock = options.clock ?? systemClock
  }

  /** Reloads the keys from the store (other nodes may have rotated); decrypts new ones. */
  async refresh(): Promise<void> {
    // Taken before the read, so the records are at least this fresh; set only on success.
    const loadedAt = this.#clock()
    const records = await this.#store.listSigningKeys()
    const next = new Map<string, LoadedKey>()
    for (const record of records) {
      const known = this.#keys.get(record.kid)
      const reuse = known !== undefined && known.record.alg === record.alg
      const loaded = reuse ? { ...known, record } : loadKey(record, this.#masterSecret)
      next.set(record.kid, loaded)
    }
    this.#keys = next
    this.#loadedAt = loadedAt
  }

  /**
   * Makes sure a key can sign at `now` and returns it. Reads the store (in the keyring's
   * queue) unless the keys were loaded less than half the publish delay before `now` and
   * one of them signs at `now`; then it answers from memory at once. `now` must come from
   * the keyring's clock. On an empty keyring the first key signs at once: no verifier can
   * have cached an empty JWKS against it.
   */
  ensure(now: number): Promise<SigningKey> {
    const fresh = this.#freshSigner(now)
    if (fresh !== undefined) return Promise.resolve(fresh.signing)
    return this.#exclusive(async () => {
      await this.refresh()
      const current = this.#signer(now)
      if (current !== undefined) return current.signing
      // Nothing can sign (a fresh keyring, or every key retired): sign at once rather
      // than refuse every login for the length of a publish delay.
      await this.#store.insertSigningKey(await this.#newRecord(now, now))
      await this.refresh()
      return this.signingKey(now)
    })
  }

  /**
   * Adds a key that is published now and signs after the publish delay; every key not yet
   * retired retires at that moment and stays published until its tokens have expired.
   */
  rotate(now: number): Promise<KeySummary> {
    return this.#exclusive(async () => {
      await this.refresh()
      const anyPublished = [...this.#keys.values()].some(({ record }) => isPublished(record, now))
      const activatesAt = anyPublished ? now + this.#publishDelayMs : now
      const record = await this.#newRecord(now, activatesAt)
      await this.#store.insertSigningKey(record)
      for (const { record: old } of this.#keys.values()) {
        if (old.retiredAt !== null) continue
        await this.#store.retireSigningKey(old.kid, activatesAt, activatesAt + this.#retentionMs)
      }
      await this.refresh()
      return summarize(record, now, this.#signer(now)?.record.kid)
    })
  }

  /** The key that signs at `now`: the newest active, non-retired key. Call `ensure` first. */
  signingKey(now: number): SigningKey {
    const current = this.#signer(now)
    if (current === undefined) throw new Error('No signing key is active; call ensure() first')
    return current.signing
  }

  /** The JWKS at `now`: every key not past `expiresAt`, pending ones included; no HS256. */
  publicJwks(now: number): Jwks {
    const keys: PublicJwk[] = []
    for (const { record, jwk } of this.#sorted()) {
      if (jwk !== null && isPublished(record, now)) keys.push({ ...jwk })
    }
    return { keys }
  }

  /** The verification key of a kid, or `undefined`; only a map lookup. */
  keyFor(kid: string): VerificationKey | undefined {
    return this.#keys.get(kid)?.verification
  }

  /** Whether the newest key is at least `intervalMs` old (or there is none). */
  rotationDue(now: number, intervalMs: number): boolean {
    let newest = -Infinity
    for (const { record } of this.#keys.values()) newest = Math.max(newest, record.createdAt)
    return now - newest >= intervalMs
  }

  /** Deletes every key past its `expiresAt`; returns their kids. */
  removeExpired(now: number): Promise<string[]> {
    return this.#exclusive(async () => {
      await this.refresh()
      const expired: string[] = []
      for (const { record } of this.#keys.values()) {
        if (record.expiresAt !== null && now >= record.expiresAt) expired.push(record.kid)
      }
      for (const kid of expired) await this.#store.deleteSigningKey(kid)
      await this.refresh()
      return expired
    })
  }

  /** The periodic job: rotates when due, then removes expired keys. */
  async maintain(now: number, rotationIntervalMs: number): Promise<void> {
    await this.ensure(now)
    if (this.rotationDue(now, rotationIntervalMs)) await this.rotate(now)
    await this.removeExpired(now)
  }

  /** Every stored key with its status, newest first (`latchkey keys list`). */
  list(now: number): KeySummary[] {
    const signer = this.#signer(now)?.record.kid
    return this.#sorted().map(({ record }) => summarize(record, now, signer))
  }

  /**
   * The signer at `now` if the loaded keys must still be current. A rotation inserts a key
   * that signs `publishDelayMs` after it is made (retiring the others then), so keys read
   * at `loadedAt` know every key that signs before `loadedAt + publishDelayMs`; half of it
   * is the bound, as a margin for clock differences between nodes. Keys sign at once only
   * when nothing can sign: `ensure` of a first key (the slow path here too), or `rotate`
   * with nothing published (then no loaded key signs either). A `now` before `loadedAt`
   * (another clock) takes the slow path, and so does every call with a delay of 0.
   */
  #freshSigner(now: number): LoadedKey | undefined {
    const age = now - this.#loadedAt
    if (age < 0 || age >= this.#publishDelayMs / 2) return undefined
    return this.#signer(now)
  }

  #signer(now: number): LoadedKey | undefined {
    return this.#sorted().find(({ record }) => canSign(record, now))
  }

  /** Newest first: by activation, then creation, then kid, so every node picks the same. */
  #sorted(): LoadedKey[] {
    return [...this.#keys.values()].sort(
      (a, b) =>
        b.record.activatesAt - a.record.activatesAt ||
        b.record.createdAt - a.record.createdAt ||
        (a.record.kid < b.record.kid ? 1 : -1),
    )
  }

  #newRecord(createdAt: number, activatesAt: number): Promise<SigningKeyRecord> {
    const options = { masterSecret: this.#masterSecret, rsaBits: this.#rsaBits }
    const material = this.#hmacSecret ? { ...options, hmacSecret: this.#hmacSecret } : options
    return createKeyRecord(this.#alg, { createdAt, activatesAt }, material)
  }

  /** Runs mutations one at a time, so that two concurrent `ensure` calls make one key. */
  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(task)
    this.#queue = result.catch(() => undefined)
    return result
  }
}

function isPublished(record: SigningKeyRecord, now: number): boolean {
  return record.expiresAt === null || now < record.expiresAt
}

function canSign(record: SigningKeyRecord, now: number): boolean {
  return (
    record.activatesAt <= now &&
    (record.retiredAt === null || now < record.retiredAt) &&
    isPublished(record, now)
  )
}

function summarize(record: SigningKeyRecord, now: number, signer: string | undefined): KeySummary {
  const { kid, alg, createdAt, activatesAt, retiredAt, expiresAt } = record
  return {
    kid,
    alg,
    status: statusOf(record, now, signer),
    createdAt,
    activatesAt,
    retiredAt,
    expiresAt,
  }
}

function statusOf(record: SigningKeyRecord, now: number, signer: string | undefined): KeyStatus {
  if (!isPublished(record, now)) return 'expired'
  if (record.retiredAt !== null && now >= record.retiredAt) return 'retired'
  if (now < record.activatesAt) return 'pending'
  return record.kid === signer ? 'signing' : 'published'
}
