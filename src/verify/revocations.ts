/**
 * Revocations for `latchkey/verify`: the verifier subscribes to the issuer's Redis bus and
 * keeps what it hears (denied jtis, revoked logins, users' minimum token versions) for as
 * long as a token could carry them. On every (re)connect it first reads the log the server
 * nodes keep beside the channel, so a revocation made before the verifier started counts.
 *
 * It fails closed: while the bus is lost, a probe is overdue, or the log is not known to be
 * complete (a Redis restarted empty, not yet re-seeded by a server node), every token is
 * refused with {@link RevocationUnavailableError}: a revoked token is never accepted
 * because a message was missed.
 */
import type { Clock } from '../clock.js'
import { AuthError, ConfigError } from '../errors.js'
import type { RevocationFact } from '../revocation/facts.js'
import { createBusFeed } from '../revocation/feed.js'
import { redisBus } from '../revocation/redis-bus.js'
import type { BusTransport } from '../revocation/transport.js'
import type { AccessTokenClaims } from '../tokens/claims.js'

/** Where a verifier hears revocations: the Redis (or Cluster) the issuer's bus runs on. */
export interface VerifierRevocationOptions {
  /** `redis://` URL, or comma-separated Cluster seed URLs. Never logged. */
  redisUrl: string
  /** The issuer's channel. Default `latchkey:revocations`. */
  channel?: string
  /**
   * How long a revoked login or user version is remembered: the issuer's access-token TTL
   * plus its clock skew. Default 630 000 ms (10 min + 30 s).
   */
  windowMs?: number
  /** How often the bus is checked end to end. Default 1000 ms. */
  probeIntervalMs?: number
  /** A probe not back within this time marks the bus as lost. Default 2000 ms. */
  probeTimeoutMs?: number
  /** Where the loss of the bus is reported. Default: console. */
  logger?: { warn(message: string): void }
}

/**
 * Revocations cannot be checked right now (the bus is lost, or its log is not complete), so
 * the token is refused with code `revocation_unavailable` (503: retry shortly).
 */
export class RevocationUnavailableError extends AuthError {
  constructor() {
    super('revocation_unavailable', 'Revocations cannot be checked right now; try again shortly.')
  }
}

/** What a verifier asks of its revocation subscription. */
export interface RevocationCheck {
  /** Throws `token_revoked`, or {@link RevocationUnavailableError} while not in sync. */
  check(claims: AccessTokenClaims, now: number): void
  close(): Promise<void>
}

/** Subscribes to the issuer's revocation bus; see the module comment. */
export function subscribeRevocations(
  options: VerifierRevocationOptions,
  clock: Clock,
): RevocationCheck {
  const windowMs = checked(options.windowMs, 630_000, 'windowMs')
  const probeIntervalMs = checked(options.probeIntervalMs, 1000, 'probeIntervalMs')
  const probeTimeoutMs = checked(options.probeTimeoutMs, 2000, 'probeTimeoutMs')
  if (probeTimeoutMs < probeIntervalMs) {
    throw new ConfigError('revocation.probeTimeoutMs must be at least probeIntervalMs')
  }
  const bus = redisBus({ url: options.redisUrl, channel: options.channel, clock })
  const known = new KnownRevocations(windowMs)
  // Bumped on every connect, loss and flush: a log read started under an older value
  // proves nothing about the present connection.
  let epoch = 0
  let loadedEpoch = -1
  let retry: NodeJS.Timeout | undefined
  let closed = false

  function reload(): void {
    const current = ++epoch
    clearTimeout(retry)
    bus.readLog(0).then(
      (facts) => {
        if (current !== epoch || closed) return
        if (facts === null) return again(current)
        known.apply(facts, clock())
        loadedEpoch = current
      },
      () => again(current),
    )
  }
  function again(current: number): void {
    if (current !== epoch || closed) return
    retry = setTimeout(reload, probeIntervalMs)
    retry.unref()
  }

  const observed: BusTransport = {
    name: bus.name,
    start: (listener) =>
      bus.start({
        message: (payload) => listener.message(payload),
        connection(up) {
          listener.connection(up)
          if (up) reload()
          else epoch++
        },
      }),
    publish: (payload) => bus.publish(payload),
    close: () => bus.close(),
  }
  const feed = createBusFeed(observed, { probeIntervalMs, probeTimeoutMs, logger: options.logger })
  feed.subscribe({
    facts: (facts) => known.apply(facts, clock()),
    // A probe came back late: something may have been missed without a reconnect.
    flush: reload,
  })

  return {
    check(claims, now) {
      if (known.revokes(claims, now)) {
        throw new AuthError('token_revoked', 'The access token has been revoked')
      }
      if (!feed.trusted || loadedEpoch !== epoch) throw new RevocationUnavailableError()
    },
    async close() {
      closed = true
      clearTimeout(retry)
      await feed.close()
    },
  }
}

function checked(value: number | undefined, fallback: number, name: string): number {
  const resolved = value ?? fallback
  if (!Number.isSafeInteger(resolved) || resolved < 10) {
    throw new ConfigError(`revocation.${name} must be a whole number of milliseconds, at least 10`)
  }
  return resolved
}

/** The revocations heard, each kept only while a token could still carry it. */
class KnownRevocations {
  /** jti → until (epoch ms). */
  readonly #jtis = new Map<string, number>()
  /** sid → forget after (epoch ms). */
  readonly #sids = new Map<string, number>()
  /** user id → the least version still alive, and when to forget it. */
  readonly #users = new Map<string, { version: number; forgetAt: number }>()
  readonly #windowMs: number
  #nextPrune = 0

  constructor(windowMs: number) {
    this.#windowMs = windowMs
  }

  apply(facts: readonly RevocationFact[], now: number): void {
    this.#prune(now)
    const forgetAt = now + this.#windowMs
    for (const fact of facts) {
      if (fact.type === 'token') {
        this.#jtis.set(fact.jti, Math.max(fact.until, this.#jtis.get(fact.jti) ?? 0))
      } else if (fact.type === 'login') {
        this.#sids.set(fact.loginId, forgetAt)
      } else if (fact.type === 'user') {
        const version = Math.max(fact.version, this.#users.get(fact.userId)?.version ?? 0)
        this.#users.set(fact.userId, { version, forgetAt })
      }
      // A retired key needs nothing here: the JWKS keeps it until its tokens expire.
    }
  }

  revokes(claims: AccessTokenClaims, now: number): boolean {
    if ((this.#jtis.get(claims.jti) ?? -Infinity) > now) return true
    if ((this.#sids.get(claims.sid) ?? -Infinity) > now) return true
    const user = this.#users.get(claims.sub)
    return user !== undefined && user.forgetAt > now && claims.ver < user.version
  }

  // At most once per tenth of the window, so that applying facts stays cheap.
  #prune(now: number): void {
    if (now < this.#nextPrune) return
    this.#nextPrune = now + this.#windowMs / 10
    for (const [jti, until] of this.#jtis) if (until <= now) this.#jtis.delete(jti)
    for (const [sid, forgetAt] of this.#sids) if (forgetAt <= now) this.#sids.delete(sid)
    for (const [id, user] of this.#users) if (user.forgetAt <= now) this.#users.delete(id)
  }
}
