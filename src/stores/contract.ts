/**
 * The storage contract: a handful of domain-shaped operations, never generic CRUD.
 * Every implementation passes the suite in `conformance.ts`. Times are epoch
 * milliseconds; callers pass `now` so that stores never read a clock.
 */
import { hashesMatch } from '../crypto/opaque-token.js'
import type { RevocationFact } from '../revocation/facts.js'
import type { KeyStore } from '../tokens/key-store.js'

export type { SigningKeyRecord } from '../tokens/key-store.js'

/** A user as stored. `tokenVersion` is the `ver` that every credential must reach. */
export interface UserRecord {
  id: string
  /** The address as the user typed it (trimmed). */
  email: string
  /** The lookup key: unique, case-insensitive. */
  emailNormalized: string
  passwordHash: string
  tokenVersion: number
  createdAt: number
  updatedAt: number
}

/** What kind of credential keeps a login alive. */
export type LoginKind = 'session' | 'token'

/** One sign-in: the unit a user sees in "your active sessions" and can revoke. */
export interface LoginRecord {
  id: string
  userId: string
  kind: LoginKind
  /** SHA-256 of the cookie session's secret; `null` for other kinds. */
  secretHash: Uint8Array | null
  createdAt: number
  lastSeenAt: number
  idleExpiresAt: number
  absoluteExpiresAt: number
  ip: string | null
  userAgent: string | null
  revokedAt: number | null
}

/**
 * One refresh token of a family. The family is a login of kind `token` (`familyId` is the
 * login's id, the access tokens' `sid`), so revoking or expiring the login ends the family.
 */
export interface RefreshTokenRecord {
  id: string
  familyId: string
  userId: string
  /** SHA-256 of the token's secret; the secret itself is never stored. */
  secretHash: Uint8Array
  createdAt: number
  /** When it was rotated; a spent token presented again is reuse (or a retry in grace). */
  spentAt: number | null
  /** The token that replaced it; set together with `spentAt`. */
  childId: string | null
}

/** A refresh token, the login that is its family, and that login's user. */
export interface RefreshTokenWithFamily {
  token: RefreshTokenRecord
  login: LoginRecord | null
  user: UserRecord | null
}

/** A rotation of a presented refresh token: see {@link Store.rotateRefreshToken}. */
export interface Rotation {
  parentId: string
  /**
   * SHA-256 of the presented secret: the parent's must be the same. A store may compare
   * it in its own way (SQL's `=`): it is the hash of 256 random bits, so how much of it
   * a guess matches says nothing of the secret, and a refusal is then checked again in
   * constant time.
   */
  secretHash: Uint8Array
  /** The child, created at `now` in the parent's family, for the parent's user. */
  child: { id: string; secretHash: Uint8Array }
  now: number
  /** How far activity pushes the family's idle expiry; never past its absolute one. */
  idleMs: number
  /**
   * Activity is written only to a login last seen before this time (epoch ms), so that a
   * family renews its idle expiry once in a while rather than on every rotation.
   */
  renewIfSeenBefore: number
}

/** The family of a rotated token, as the rotation left it. */
export interface RotatedFamily {
  login: LoginRecord | null
  user: UserRecord | null
  /** Whether the rotation wrote the login's activity: a copy of the login is now stale. */
  renewed: boolean
}

/**
 * Whether a refresh token's family may still rotate at `now`: a login of kind `token`
 * of the token's own user, not revoked, before its idle and its absolute expiry, and a
 * user that still exists. Part of {@link mayRotate}; SQL states it again
 * (`refresh-operations.ts`), and the conformance suite holds both to it.
 */
export function isLiveFamily<F extends RefreshTokenWithFamily>(
  family: F,
  now: number,
): family is F & { login: LoginRecord; user: UserRecord } {
  const { token, login, user } = family
  return (
    login !== null &&
    user !== null &&
    login.userId === token.userId &&
    login.kind === 'token' &&
    login.revokedAt === null &&
    now < login.idleExpiresAt &&
    now < login.absoluteExpiresAt
  )
}

/**
 * Whether `rotation` may spend the token `found`: unspent, with the presented secret's
 * hash, in a live family. Stores that check in JavaScript use this; SQL states it again.
 */
export function mayRotate(
  found: RefreshTokenWithFamily | null,
  rotation: Rotation,
): found is RefreshTokenWithFamily & { login: LoginRecord; user: UserRecord } {
  return (
    found !== null &&
    found.token.spentAt === null &&
    hashesMatch(rotation.secretHash, found.token.secretHash) &&
    isLiveFamily(found, rotation.now)
  )
}

/**
 * The activity `rotation` writes on the family login, or `null` when it was seen recently
 * enough (see {@link Rotation.renewIfSeenBefore}). Stores that renew in JavaScript use
 * this; SQL states it again.
 */
export function renewalOf(
  login: LoginRecord,
  rotation: Rotation,
): Pick<LoginRecord, 'lastSeenAt' | 'idleExpiresAt'> | null {
  if (login.lastSeenAt >= rotation.renewIfSeenBefore) return null
  const { now, idleMs } = rotation
  return { lastSeenAt: now, idleExpiresAt: Math.min(now + idleMs, login.absoluteExpiresAt) }
}

/** The state of a fixed-window counter after one hit. */
export interface RateLimitHit {
  count: number
  resetAt: number
}

/**
 * Everything Latchkey persists. The signing-key operations are those of {@link KeyStore},
 * so a keyring can live in the same store as the users.
 */
export interface Store extends KeyStore {
  /** Creates a user; `null` when the normalized email is taken (nothing is written). */
  createUser(user: UserRecord): Promise<UserRecord | null>
  getUserById(id: string): Promise<UserRecord | null>
  getUserByEmail(emailNormalized: string): Promise<UserRecord | null>
  /** Replaces the hash without other effects (a rehash with new parameters). */
  updatePasswordHash(userId: string, passwordHash: string, now: number): Promise<void>
  /**
   * Sets a new password in one transaction: bumps the token version and revokes every
   * live login of the user except `keepLoginId`. Returns the new version and the ids
   * of the logins it revoked, or `null` when the user does not exist.
   */
  changePassword(
    userId: string,
    passwordHash: string,
    keepLoginId: string | null,
    now: number,
  ): Promise<{ tokenVersion: number; revokedLoginIds: string[] } | null>
  /** Bumps the token version ("log out everywhere", a ban); `null` for an unknown user. */
  bumpTokenVersion(userId: string, now: number): Promise<number | null>

  createLogin(login: LoginRecord): Promise<void>
  getLogin(id: string): Promise<LoginRecord | null>
  /**
   * Records activity on a live login. Conditional: a revoked login stays revoked, so a
   * request racing a logout can never resurrect it. Returns whether a row changed.
   */
  touchLogin(id: string, lastSeenAt: number, idleExpiresAt: number): Promise<boolean>
  /** Revokes one live login of a user; `false` when there is none with that id. */
  revokeLogin(userId: string, loginId: string, now: number): Promise<boolean>
  /** Revokes every live login of a user except `exceptLoginId`; returns their ids. */
  revokeUserLogins(userId: string, exceptLoginId: string | null, now: number): Promise<string[]>
  /** The user's logins that are neither revoked nor expired at `now`, newest first. */
  listLiveLogins(userId: string, now: number): Promise<LoginRecord[]>

  /** Stores a new refresh token; its family login must exist. */
  createRefreshToken(token: RefreshTokenRecord): Promise<void>
  getRefreshToken(id: string): Promise<RefreshTokenRecord | null>
  /**
   * A refresh token with its family login and the family's user, in one read: what a
   * rotation checks before it writes. `login` or `user` is `null` when it no longer exists.
   */
  getRefreshTokenWithFamily(id: string): Promise<RefreshTokenWithFamily | null>
  /**
   * Rotates atomically (one statement where the store has writable CTEs, else one
   * transaction), when the parent is unspent, its secret hash is `secretHash`, and its
   * family is live at `now` (see {@link mayRotate}): spends the parent (one conditional
   * update), inserts the child into the parent's family and, when the family login was
   * last seen before `renewIfSeenBefore`, records activity on it (`last_seen_at = now`,
   * `idle_expires_at = min(now + idleMs, absolute expiry)`, unless it was revoked
   * meanwhile: the login is then `null`). Returns the family as it stands after the write,
   * to be checked once more (a revocation may land in between); `null` when the
   * parent was not spent by this call, having written nothing. Concurrent rotations of one
   * parent leave exactly one child. A caller that gets `null` reads the family to tell an
   * invalid token, a dead family, a retry and a reuse apart.
   */
  rotateRefreshToken(rotation: Rotation): Promise<RotatedFamily | null>

  /** Counts one hit in a fixed window that starts with the first hit. */
  hitRateLimit(key: string, windowMs: number, now: number): Promise<RateLimitHit>

  /**
   * Denies one access token by its `jti` until `expiresAt` (its `exp`, epoch ms). Denying
   * a jti again keeps the later of the two times.
   */
  denyToken(jti: string, expiresAt: number): Promise<void>
  /** Whether a jti is denied at `now`; a denial ends at its `expiresAt`. */
  isTokenDenied(jti: string, now: number): Promise<boolean>

  /**
   * The revocations a late subscriber must still hear: logins revoked at or after `since`,
   * tokens denied past `now` (until their expiry), and users changed at or after `since`
   * (with their current token version). Unordered.
   */
  listRevocationFacts(since: number, now: number): Promise<RevocationFact[]>

  /**
   * Deletes logins (with their refresh tokens), counters and denials that ended by `now`;
   * returns how many rows went.
   */
  deleteExpired(now: number): Promise<number>
  /** Resolves when the store answers; rejects otherwise. */
  ping(): Promise<void>
  close(): Promise<void>
}
