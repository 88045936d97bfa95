import type { Clock } from '../clock.js'
import type { ResolvedRefreshConfig } from '../config.js'
import { hmac } from '../crypto/keys.js'
import { hashesMatch, hashSecret, parseOpaqueToken, randomId } from '../crypto/opaque-token.js'
import type { IssuedToken } from '../crypto/opaque-token.js'
import { AuthError } from '../errors.js'
import type { Events } from '../events.js'
import type { ClientInfo } from '../sessions/sessions.js'
import { isLiveFamily } from '../stores/contract.js'
import type { LoginRecord, Store, UserRecord } from '../stores/contract.js'
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

/**
 * How long after its last renewal a family's login is renewed again by a rotation: a tenth
 * of the idle window, the rule sessions follow, and at most an hour, so that a login's
 * last-seen time stays right to the hour. A client refreshing every 10 minutes writes its
 * login on one rotation in six; its idle expiry is never more than this short of exact.
 */
const renewalIntervalMs = (idleMs: number) => Math.min(idleMs / 10, 60 * 60_000)

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

  /** A new token: its id and secret hash for the store, and the token to hand out. */
  function newToken(): IssuedToken {
    const id = randomId()
    const secret = secretFor(id)
    return { id, secretHash: hashSecret(secret), token: `${id}.${secret}` }
  }

  async function issued(user: UserRecord, login: LoginRecord, refreshToken: string, mark: number) {
    const access = await tokens.sign(user, login, mark)
    return { user, login, access, refreshToken }
  }

  return {
    async start(user, client) {
      const { login, access } = await tokens.issue(user, client)
      const first = newToken()
      await store.createRefreshToken({
        id: first.id,
        familyId: login.id,
        userId: user.id,
        secretHash: first.secretHash,
        createdAt: login.createdAt,
        spentAt: null,
        childId: null,
      })
      return { user, login, access, refreshToken: first.token }
    },

    async rotate(presented) {
      const now = clock()
      // Before any read: a revocation fact after this mark keeps the new token out of the cache.
      const mark = tokens.readMark()
      const parsed = parseOpaqueToken(presented)
      if (parsed === null) throw invalid()
      // The common case in one step (one statement on Postgres): the store checks the
      // secret and the family, spends the parent, stores the child and, when due, renews
      // the login.
      const secretHash = hashSecret(parsed.secret)
      const child = newToken()
      const rotated = await store.rotateRefreshToken({
        parentId: parsed.id,
        secretHash,
        child: { id: child.id, secretHash: child.secretHash },
        now,
        idleMs: config.idleMs,
        renewIfSeenBefore: now - renewalIntervalMs(config.idleMs),
      })
      if (rotated !== null) {
        const { user, login } = rotated
        // A renewal skips a login revoked after the store's check: then there is none.
        if (login === null || user === null || login.revokedAt !== null) throw invalid()
        events.emit('refresh', { userId: user.id, loginId: login.id })
        return issued(user, login, child.token, mark)
      }
      // Not rotated: a wrong or unknown token, a dead family, or a spent parent. The
      // secret is compared here in constant time before anything else is told apart.
      const found = await store.getRefreshTokenWithFamily(parsed.id)
      if (found === null || !hashesMatch(secretHash, found.token.secretHash)) throw invalid()
      if (!isLiveFamily(found, now)) throw invalid()
      const { user, login, token: parent } = found
      // Unspent, with the right secret, in a live family, yet not rotated: nothing a store
      // keeping its contract answers; refused rather than trusted.
      if (parent.spentAt === null) throw invalid()
      if (parent.childId !== null && now < parent.spentAt + config.graceMs) {
        // A retry, or a concurrent rotation of the same parent that won: the same child.
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
