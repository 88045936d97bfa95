import type { Clock } from '../clock.js'
import type { SessionLifetime } from '../config.js'
import { issueOpaqueToken, parseOpaqueToken, secretMatches } from '../crypto/opaque-token.js'
import { AuthError } from '../errors.js'
import type { CredentialCache } from '../revocation/cache.js'
import type { LoginRecord, Store, UserRecord } from '../stores/contract.js'

/** Where a login came from, kept for the user's "active sessions" list. */
export interface ClientInfo {
  ip: string | null
  userAgent: string | null
}

/** A validated cookie session and its user. */
export interface ValidSession {
  user: UserRecord
  login: LoginRecord
}

/** The cookie-session strategy: issue, validate with timeouts and renewal, revoke. */
export interface Sessions {
  /** Always a new id: a presented id is never adopted. */
  create(
    user: UserRecord,
    client: ClientInfo,
    remember: boolean,
  ): Promise<{ login: LoginRecord; token: string }>
  /** The session behind a cookie value, or an AuthError saying why there is none. */
  validate(token: string): Promise<ValidSession>
  /**
   * What `validate` would answer from this node's memory alone: the cookie was validated
   * here, no fact has touched it since, no renewal is due and the bus is trusted.
   * `undefined` otherwise: then `validate` decides.
   */
  cached(token: string): ValidSession | undefined
}

const MAX_USER_AGENT = 512

export function createSessions(deps: {
  store: Store
  clock: Clock
  lifetime: SessionLifetime
  rememberLifetime: SessionLifetime
  renewFraction: number
  /** Sessions validated on this node, evicted by revocation facts. */
  cache: CredentialCache<ValidSession>
}): Sessions {
  const { store, clock, cache } = deps
  const unauthorized = () => new AuthError('unauthorized', 'No valid session.')
  const fromMemory = (token: string) => cache.get(token, clock())

  return {
    async create(user, client, remember) {
      const { idleMs, absoluteMs } = remember ? deps.rememberLifetime : deps.lifetime
      const now = clock()
      const issued = issueOpaqueToken()
      const login: LoginRecord = {
        id: issued.id,
        userId: user.id,
        kind: 'session',
        secretHash: issued.secretHash,
        createdAt: now,
        lastSeenAt: now,
        idleExpiresAt: now + idleMs,
        absoluteExpiresAt: now + absoluteMs,
        ip: client.ip,
        userAgent: client.userAgent?.slice(0, MAX_USER_AGENT) ?? null,
        revokedAt: null,
      }
      await store.createLogin(login)
      return { login, token: issued.token }
    },

    cached: fromMemory,

    async validate(token) {
      // The hot path: this exact cookie was validated here, and no fact has touched it.
      const cached = fromMemory(token)
      if (cached !== undefined) return cached
      const generation = cache.begin()
      const parsed = parseOpaqueToken(token)
      if (parsed === null) throw unauthorized()
      const login = await store.getLogin(parsed.id)
      if (login?.kind !== 'session' || login.secretHash === null) throw unauthorized()
      if (!secretMatches(parsed.secret, login.secretHash)) throw unauthorized()
      if (login.revokedAt !== null) {
        throw new AuthError('session_revoked', 'This session has been revoked.')
      }
      const now = clock()
      if (now >= login.absoluteExpiresAt || now >= login.idleExpiresAt) {
        throw new AuthError('session_expired', 'This session has expired.')
      }
      const user = await store.getUserById(login.userId)
      if (user === null) throw unauthorized()
      const valid = { user, login: await renew(login, now) }
      // Until the next renewal is due, so that activity is still written on time.
      const expiresAt = Math.min(renewalDue(valid.login), valid.login.absoluteExpiresAt)
      cache.fill(token, { value: valid, userId: user.id, loginId: login.id, expiresAt }, generation)
      return valid
    },
  }

  /**
   * Slides the idle expiry, writing at most once per `renewFraction` of the idle window
   * instead of on every request. The write is conditional, so it cannot revive a
   * session that a concurrent logout has revoked.
   */
  async function renew(login: LoginRecord, now: number): Promise<LoginRecord> {
    if (now < renewalDue(login)) return login
    const idleMs = login.idleExpiresAt - login.lastSeenAt
    const idleExpiresAt = Math.min(now + idleMs, login.absoluteExpiresAt)
    if (!(await store.touchLogin(login.id, now, idleExpiresAt))) {
      throw new AuthError('session_revoked', 'This session has been revoked.')
    }
    return { ...login, lastSeenAt: now, idleExpiresAt }
  }

  function renewalDue(login: LoginRecord): number {
    return login.lastSeenAt + (login.idleExpiresAt - login.lastSeenAt) * deps.renewFraction
  }
}
