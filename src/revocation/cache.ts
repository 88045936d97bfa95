import type { Clock } from '../clock.js'
import type { RevocationFact } from './facts.js'
import type { RevocationFeed } from './feed.js'

/** Bounds of a node's local credential cache. */
export interface CacheOptions {
  /** The most credentials kept; the oldest fill goes first. Default 10 000. */
  maxEntries?: number
  /**
   * The longest an entry is trusted without reading the store again, whatever the bus
   * says. It bounds the one case no bus can report: a node that could not publish a
   * fact while the others kept listening. Default 60 s.
   */
  maxAgeMs?: number
}

/** What a cached credential stands for, so that facts can find it. */
export interface CacheEntry<V> {
  value: V
  userId: string
  loginId: string
  /** The access token's `jti`, for a Bearer entry. */
  jti?: string
  /** When the entry stops answering: never later than the credential's own expiry. */
  expiresAt: number
}

/**
 * How many trailing characters of a credential key the map hashes. A presented credential
 * is a new string on every request, so the map hashes it every time: a 400-character JWT
 * costs 0.8 µs. Its last 16 characters (inside the signature, or the session secret: 96
 * random bits) tell credentials apart as well; two that share them only displace each
 * other. The whole value is still compared before an entry answers.
 */
const HASHED_TAIL = 16

/**
 * An entry as kept: with the exact credential it was filled for. Built field by field in
 * `fill`, so that all entries share one V8 hidden class. `{ ...entry, key }` (a spread, then
 * a property the source lacks) gave every object a class of its own on Node 20: the loads
 * in `get` went megamorphic and, with thousands of entries, missed V8's lookup cache.
 * `peek` over 10,000 cached tokens in turn took 2.3 µs a call that way, 1.1 µs this way
 * (`npm run bench -- authenticate`).
 */
interface Kept<V> extends CacheEntry<V> {
  jti: string | undefined
  key: string
}

const slot = (key: string) => (key.length > HASHED_TAIL ? key.slice(-HASHED_TAIL) : key)

/**
 * Credentials this node has fully validated, by their exact presented value (so two
 * credentials never share an entry). Facts from the feed evict what they touch; a lost
 * bus flushes everything; nothing is answered while the feed is not trusted.
 */
export class CredentialCache<V> {
  /** By the tail of the credential (see `HASHED_TAIL`). */
  readonly #entries = new Map<string, Kept<V>>()
  readonly #feed: RevocationFeed
  readonly #clock: Clock
  readonly #maxEntries: number
  readonly #maxAgeMs: number

  constructor(feed: RevocationFeed, clock: Clock, options: CacheOptions = {}) {
    this.#feed = feed
    this.#clock = clock
    this.#maxEntries = options.maxEntries ?? 10_000
    this.#maxAgeMs = options.maxAgeMs ?? 60_000
    feed.subscribe({
      facts: (facts) => this.#evict(facts),
      flush: () => this.#entries.clear(),
    })
  }

  /** The live entry for a presented credential, if the feed is trusted. */
  get(key: string, now: number): V | undefined {
    if (!this.#feed.trusted) return undefined
    const at = slot(key)
    const entry = this.#entries.get(at)
    if (entry?.key !== key) return undefined
    if (now >= entry.expiresAt) {
      this.#entries.delete(at)
      return undefined
    }
    return entry.value
  }

  /** The generation to hand back to `fill` once the store has been read. */
  begin(): number {
    return this.#feed.generation
  }

  /**
   * Keeps a credential validated from the store, unless a fact or a change of the bus
   * arrived since `begin()` (the read may predate a revocation) or the feed is not trusted.
   */
  fill(key: string, entry: CacheEntry<V>, generation: number): void {
    if (this.#maxEntries === 0) return
    if (!this.#feed.trusted || generation !== this.#feed.generation) return
    const expiresAt = Math.min(entry.expiresAt, this.#clock() + this.#maxAgeMs)
    // Another credential with the same tail, however unlikely, is only displaced.
    const at = slot(key)
    this.#entries.delete(at)
    this.#entries.set(at, {
      value: entry.value,
      userId: entry.userId,
      loginId: entry.loginId,
      jti: entry.jti,
      expiresAt,
      key,
    })
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next()
      if (oldest.done !== true) this.#entries.delete(oldest.value)
    }
  }

  get size(): number {
    return this.#entries.size
  }

  // A scan per batch of facts: revocations are rare next to reads, and the cache is bounded.
  #evict(facts: readonly RevocationFact[]): void {
    const logins = new Set<string>()
    const users = new Set<string>()
    const jtis = new Set<string>()
    for (const fact of facts) {
      // A retired key still verifies the tokens it signed; the keyring reloads on its own.
      if (fact.type === 'login') logins.add(fact.loginId)
      else if (fact.type === 'user') users.add(fact.userId)
      else if (fact.type === 'token') jtis.add(fact.jti)
    }
    for (const [key, entry] of this.#entries) {
      if (
        logins.has(entry.loginId) ||
        users.has(entry.userId) ||
        (entry.jti !== undefined && jtis.has(entry.jti))
      ) {
        this.#entries.delete(key)
      }
    }
  }
}
