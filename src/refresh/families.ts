import type { Clock } from '../clock.js'
import type { ResolvedRefreshConfig } from '../config.js'
import { hmac } from '../crypto/keys.js'
import { hashSecret, parseOpaqueToken, randomId, secretMatches } from '../crypto/opaque-token.js'
import { AuthError } from '../errors.js'
import type { Events } from '../events.js'
import type { ClientInfo } from '../sessions/sessions.js'
import type {
  LoginRecord,
  RefreshTokenRecord,
  RefreshTokenWithFamily,
  Store,
  UserRecord,
} from '../stores/contract.js'
import type { SignedAccessToken } from '../tokens/access-token.js'
import type { AccessTokens } from '../tokens/service.js'

/** What a token-mode login or a refresh hands out. */
export interface IssuedTokens {
  user: UserRecord
  /** The family: a login of kind `token`, the `sid` of its access tokens. */
  login: LoginRecord
  access: SignedAccessToken
  /** `id.secret`; only SHA-256 of the secret is stored. */
  refreshToken: string
}

/** Refresh-token families: start one at login, rotate on every use, detect reuse. */
export interface RefreshTokens {
  /** A new login of kind `token` with its first access token and refresh token. */
  start(user: UserRecord, client: ClientInfo): Promise<IssuedTokens>
  /**
   * Rotates a presented refresh token: the parent is spent, a child and a new access token
   * (same `sid`, the user's current `ver`) come back. A spent token inside the grace window
   * gets the same child again; outside it the family is revoked (`refresh_token_reused`).
   */
  rotate(token: string): Promise<IssuedTokens>
}

const invalid = () =>
  new AuthError('invalid_refresh_token', 'The refresh token is invalid, expired or revoked.')

/** Builds the refresh-token service over the store and the access-token service. */
export function createRefreshTokens(deps: {
  store: Store
  clock: Clock
  tokens: AccessTokens
  /** A key derived from the master secret for refresh tokens only. */
  key: Uint8Array
  config: ResolvedRefreshConfig
  events: Events
}): RefreshTokens {
  const { store, clock, tokens, key, config, events } = deps

  // The secret of a refresh token is HMAC(key, id) rather than random bytes. Only its
  // SHA-256 is stored, yet a parent re-presented inside the grace window must get the
  // byte-identical child back (never a second branch), so the server has to be able to
  // produce the child again: deriving it from the id needs no stored secret at all,
  // where keeping the child encrypted would put a decryptable token in the database.
  // The database alone (ids and hashes) still yields no usable token; the master
  // secret already signs and decrypts everything else, so it adds no new single point.
  const secretFor = (id: string) => hmac(key, `refresh-token:${id}`)
  const tokenFor = (id: string) => `${id}.${secretFor(id)}`

  /** A new token of the family: its record, and the token itself to hand out. */
  function newToken(
    login: LoginRecord,
    now: number,
  ): { record: RefreshTokenRecord; token: string } {
    const id = randomId()
    const secret = secretFor(id)
    const record: RefreshTokenRecord = {
      id,
      familyId: login.id,
      userId: login.userId,
      secretHash: hashSecret(secret),
      createdAt: now,
      spentAt: null,
      childId: null,
    }
    return { record, token: `${id}.${secret}` }
  }

  async function issued(user: UserRecord, login: LoginRecord, refreshToken: string, mark: number) {
    const access = await tokens.sign(user, login, mark)
    return { user, login, access, refreshToken }
  }

  /** The family's login and user, or `invalid_refresh_token` when the family is dead. */
  function liveFamily({ token, login, user }: RefreshTokenWithFamily, now: number) {
    if (login === null || login.userId !== token.userId || login.kind !== 'token') throw invalid()
    if (login.revokedAt !== null || now >= login.idleExpiresAt) throw invalid()
    if (now >= login.absoluteExpiresAt) throw invalid()
    if (user === null) throw invalid()
    return { user, login }
  }

  return {
    async start(user, client) {
      const { login, access } = await tokens.issue(user, client)
      const first = newToken(login, login.createdAt)
      await store.createRefreshToken(first.record)
      return { user, login, access, refreshToken: first.token }
    },

    async rotate(presented) {
      const now = clock()
      // Before any read: a revocation fact after this mark keeps the new token out of the cache.
      const mark = tokens.readMark()
      const parsed = parseOpaqueToken(presented)
      if (parsed === null) throw invalid()
      // One read: the token, its family and the user (a store with joins makes it one query).
      const found = await store.getRefreshTokenWithFamily(parsed.id)
      if (found === null || !secretMatches(parsed.secret, found.token.secretHash)) throw invalid()
      const { user, login } = liveFamily(found, now)
      let parent: RefreshTokenRecord | null = found.token
      if (parent.spentAt === null) {
        const child = newToken(login, now)
        // Activity pushes the idle expiry forward; nothing moves the absolute one.
        const idleExpiresAt = Math.min(now + config.idleMs, login.absoluteExpiresAt)
        if (await store.rotateRefreshToken(parent.id, child.record, now, idleExpiresAt)) {
          events.emit('refresh', { userId: user.id, loginId: login.id })
          return issued(user, { ...login, lastSeenAt: now, idleExpiresAt }, child.token, mark)
        }
        // A concurrent rotation of the same parent won: answer as a retry of that one.
        parent = await store.getRefreshToken(parent.id)
        if (parent === null) throw invalid()
      }
      if (
        parent.childId !== null &&
        parent.spentAt !== null &&
        now < parent.spentAt + config.graceMs
      ) {
        events.emit('refresh', { userId: user.id, loginId: login.id })
        return issued(user, login, tokenFor(parent.childId), mark)
      }
      // Two holders of one token: the thief or the victim presented it second. Which
      // is unknowable, so the whole family dies, its newest token and access tokens too.
      await store.revokeLogin(parent.userId, parent.familyId, now)
      events.emit('refreshReuse', { userId: parent.userId, loginId: parent.familyId })
      throw new AuthError(
        'refresh_token_reused',
        'This refresh token was already used; its whole login has been revoked.',
      )
    },
  }
}
