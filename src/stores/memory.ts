import type { RevocationFact } from '../revocation/facts.js'
import { mayRotate, renewalOf } from './contract.js'
import type {
  LoginRecord,
  RateLimitHit,
  RefreshTokenRecord,
  SigningKeyRecord,
  Store,
  UserRecord,
} from './contract.js'

/**
 * An in-process store for tests and demos. It keeps the semantics of the SQL store,
 * including the unique email, the foreign key from logins to users, and copies in both
 * directions so callers can never reach the internal records.
 */
export function memoryStore(): Store {
  const users = new Map<string, UserRecord>()
  const userIdByEmail = new Map<string, string>()
  const logins = new Map<string, LoginRecord>()
  const rateLimits = new Map<string, RateLimitHit>()
  const signingKeys = new Map<string, SigningKeyRecord>()
  /** jti → until when it is denied (epoch ms). */
  const deniedTokens = new Map<string, number>()
  const refreshTokens = new Map<string, RefreshTokenRecord>()
  let closed = false

  // Runs one operation atomically (synchronously) and reports it the way a driver
  // would: a throw becomes a rejection. A closed SQL store fails too; working on
  // silently would hide a shutdown bug.
  function run<T>(operation: () => T): Promise<T> {
    return new Promise((resolve) => {
      if (closed) throw new Error('The memory store is closed')
      resolve(operation())
    })
  }

  /** A token with its family login and user: the records themselves, not copies. */
  function familyOf(id: string) {
    const token = refreshTokens.get(id)
    if (token === undefined) return null
    const login = logins.get(token.familyId) ?? null
    const user = login === null ? null : (users.get(login.userId) ?? null)
    return { token, login, user }
  }

  function revokeLive(userId: string, exceptLoginId: string | null, now: number): string[] {
    const revoked: string[] = []
    for (const login of logins.values()) {
      if (login.userId !== userId || login.revokedAt !== null || login.id === exceptLoginId) {
        continue
      }
      login.revokedAt = now
      revoked.push(login.id)
    }
    return revoked
  }

  return {
    createUser: (user) =>
      run(() => {
        if (users.has(user.id)) throw new Error(`A user with id ${user.id} already exists`)
        if (userIdByEmail.has(user.emailNormalized)) return null
        users.set(user.id, { ...user })
        userIdByEmail.set(user.emailNormalized, user.id)
        return { ...user }
      }),

    getUserById: (id) => run(() => copyUser(users.get(id))),

    getUserByEmail: (emailNormalized) =>
      run(() => {
        const id = userIdByEmail.get(emailNormalized)
        return copyUser(id === undefined ? undefined : users.get(id))
      }),

    updatePasswordHash: (userId, passwordHash, now) =>
      run(() => {
        const user = users.get(userId)
        if (user === undefined) return
        user.passwordHash = passwordHash
        user.updatedAt = now
      }),

    changePassword: (userId, passwordHash, keepLoginId, now) =>
      run(() => {
        const user = users.get(userId)
        if (user === undefined) return null
        user.passwordHash = passwordHash
        user.tokenVersion += 1
        user.updatedAt = now
        return {
          tokenVersion: user.tokenVersion,
          revokedLoginIds: revokeLive(userId, keepLoginId, now),
        }
      }),

    bumpTokenVersion: (userId, now) =>
      run(() => {
        const user = users.get(userId)
        if (user === undefined) return null
        user.tokenVersion += 1
        user.updatedAt = now
        return user.tokenVersion
      }),

    createLogin: (login) =>
      run(() => {
        if (!users.has(login.userId)) throw new Error(`No user with id ${login.userId}`)
        if (logins.has(login.id)) throw new Error(`A login with id ${login.id} already exists`)
        logins.set(login.id, copyLogin(login))
      }),

    getLogin: (id) =>
      run(() => {
        const login = logins.get(id)
        return login === undefined ? null : copyLogin(login)
      }),

    touchLogin: (id, lastSeenAt, idleExpiresAt) =>
      run(() => {
        const login = logins.get(id)
        // Also refuses an expired login: extending its idle expiry would resurrect it.
        if (login === undefined || !isLive(login, lastSeenAt)) return false
        login.lastSeenAt = lastSeenAt
        login.idleExpiresAt = idleExpiresAt
        return true
      }),

    revokeLogin: (userId, loginId, now) =>
      run(() => {
        const login = logins.get(loginId)
        if (login === undefined || login.userId !== userId || login.revokedAt !== null) return false
        login.revokedAt = now
        return true
      }),

    revokeUserLogins: (userId, exceptLoginId, now) =>
      run(() => revokeLive(userId, exceptLoginId, now)),

    listLiveLogins: (userId, now) =>
      run(() => {
        return [...logins.values()]
          .filter((login) => login.userId === userId && isLive(login, now))
          .sort(newestFirst)
          .map(copyLogin)
      }),

    hitRateLimit: (key, windowMs, now) =>
      run(() => {
        const current = rateLimits.get(key)
        const next =
          current === undefined || current.resetAt <= now
            ? { count: 1, resetAt: now + windowMs }
            : { count: current.count + 1, resetAt: current.resetAt }
        rateLimits.set(key, next)
        return { ...next }
      }),

    listSigningKeys: () => run(() => [...signingKeys.values()].map((record) => ({ ...record }))),

    insertSigningKey: (record) =>
      run(() => {
        if (signingKeys.has(record.kid))
          throw new Error('A signing key with this kid already exists')
        signingKeys.set(record.kid, { ...record })
      }),

    retireSigningKey: (kid, retiredAt, expiresAt) =>
      run(() => {
        const record = signingKeys.get(kid)
        if (record === undefined || record.retiredAt !== null) return false
        record.retiredAt = retiredAt
        record.expiresAt = expiresAt
        return true
      }),

    deleteSigningKey: (kid) =>
      run(() => {
        signingKeys.delete(kid)
      }),

    denyToken: (jti, expiresAt) =>
      run(() => {
        deniedTokens.set(jti, Math.max(expiresAt, deniedTokens.get(jti) ?? -Infinity))
      }),

    isTokenDenied: (jti, now) =>
      run(() => {
        const until = deniedTokens.get(jti)
        return until !== undefined && now < until
      }),

    listRevocationFacts: (since, now) =>
      run(() => {
        const facts: RevocationFact[] = []
        for (const login of logins.values()) {
          if (login.revokedAt !== null && login.revokedAt >= since) {
            facts.push({ type: 'login', loginId: login.id, userId: login.userId })
          }
        }
        for (const [jti, until] of deniedTokens) {
          if (until > now) facts.push({ type: 'token', jti, until })
        }
        for (const user of users.values()) {
          if (user.updatedAt >= since) {
            facts.push({ type: 'user', userId: user.id, version: user.tokenVersion })
          }
        }
        return facts
      }),

    createRefreshToken: (token) =>
      run(() => {
        if (!logins.has(token.familyId)) throw new Error(`No login with id ${token.familyId}`)
        if (refreshTokens.has(token.id)) throw new Error('A refresh token with this id exists')
        refreshTokens.set(token.id, copyRefreshToken(token))
      }),

    getRefreshToken: (id) =>
      run(() => {
        const token = refreshTokens.get(id)
        return token === undefined ? null : copyRefreshToken(token)
      }),

    getRefreshTokenWithFamily: (id) =>
      run(() => {
        const family = familyOf(id)
        return (
          family && {
            token: copyRefreshToken(family.token),
            login: family.login && copyLogin(family.login),
            user: copyUser(family.user ?? undefined),
          }
        )
      }),

    rotateRefreshToken: (rotation) =>
      run(() => {
        // Synchronous from check to write: the memory store's transaction.
        const family = familyOf(rotation.parentId)
        if (!mayRotate(family, rotation)) return null
        const { child, now } = rotation
        const { token: parent, login } = family
        if (refreshTokens.has(child.id)) throw new Error('A refresh token with this id exists')
        parent.spentAt = now
        parent.childId = child.id
        refreshTokens.set(child.id, {
          id: child.id,
          familyId: parent.familyId,
          userId: parent.userId,
          secretHash: new Uint8Array(child.secretHash),
          createdAt: now,
          spentAt: null,
          childId: null,
        })
        const renewal = renewalOf(login, rotation)
        if (renewal !== null) Object.assign(login, renewal)
        return { login: copyLogin(login), user: copyUser(family.user), renewed: renewal !== null }
      }),

    deleteExpired: (now) =>
      run(() => {
        let deleted = 0
        for (const [jti, until] of deniedTokens) {
          if (until <= now) {
            deniedTokens.delete(jti)
            deleted += 1
          }
        }
        for (const [id, login] of logins) {
          if (login.idleExpiresAt <= now || login.absoluteExpiresAt <= now) {
            logins.delete(id)
            deleted += 1
          }
        }
        // The foreign key's cascade: a family's tokens go with its login.
        for (const [id, token] of refreshTokens) {
          if (!logins.has(token.familyId)) refreshTokens.delete(id)
        }
        for (const [key, hit] of rateLimits) {
          if (hit.resetAt <= now) {
            rateLimits.delete(key)
            deleted += 1
          }
        }
        return deleted
      }),

    ping: () => run(() => undefined),

    close: () => {
      closed = true
      return Promise.resolve()
    },
  }
}

function isLive(login: LoginRecord, now: number): boolean {
  return login.revokedAt === null && login.idleExpiresAt > now && login.absoluteExpiresAt > now
}

// Same order as the SQL store: created_at desc, then id desc (binary comparison).
function newestFirst(a: LoginRecord, b: LoginRecord): number {
  if (a.createdAt !== b.createdAt) return b.createdAt - a.createdAt
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0
}

function copyUser(user: UserRecord | undefined): UserRecord | null {
  return user === undefined ? null : { ...user }
}

function copyLogin(login: LoginRecord): LoginRecord {
  return {
    ...login,
    secretHash: login.secretHash === null ? null : new Uint8Array(login.secretHash),
  }
}

function copyRefreshToken(token: RefreshTokenRecord): RefreshTokenRecord {
  return { ...token, secretHash: new Uint8Array(token.secretHash) }
}
