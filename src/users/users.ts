import type { Clock } from '../clock.js'
import type { PasswordHasher } from '../crypto/password-hasher.js'
import { randomId } from '../crypto/opaque-token.js'
import { AuthError } from '../errors.js'
import type { Store, UserRecord } from '../stores/contract.js'
import { parseEmail } from './email.js'
import { passwordWeakness } from './password-policy.js'

/** A user as the API shows it: never the hash, never the token version. */
export interface PublicUser {
  id: string
  email: string
  createdAt: string
}

export function publicUser(user: UserRecord): PublicUser {
  return { id: user.id, email: user.email, createdAt: new Date(user.createdAt).toISOString() }
}

/** Sign-up, password checks with rehash, and password change. */
export interface Users {
  signup(email: string, password: string): Promise<UserRecord>
  /** The user whose password this is; `invalid_credentials` for any mismatch. */
  authenticate(email: string, password: string): Promise<UserRecord>
  /** Checks the current password of a known user; `invalid_credentials` otherwise. */
  checkPassword(user: UserRecord, password: string): Promise<void>
  /** Sets a new password, bumps `ver` and revokes every login but `keepLoginId`. */
  changePassword(
    user: UserRecord,
    newPassword: string,
    keepLoginId: string | null,
  ): Promise<{ revokedLoginIds: string[] }>
}

export function createUsers(deps: { store: Store; hasher: PasswordHasher; clock: Clock }): Users {
  const { store, hasher, clock } = deps
  // Verified against when the email is unknown, so both paths cost one argon2id run.
  // Made now rather than on first use: otherwise the first unknown email after a start
  // would also pay for a hash, and answer measurably slower than a wrong password.
  const dummyHash = hasher.hash(randomId())
  // A failure surfaces on the first unknown email that awaits it, not as an unhandled
  // rejection at construction.
  dummyHash.catch(() => undefined)

  const invalid = () => new AuthError('invalid_credentials', 'The email or password is wrong.')

  function requireStrong(password: string, email: string): void {
    const weakness = passwordWeakness(password, email)
    if (weakness !== null) throw new AuthError('weak_password', weakness)
  }

  async function checkPassword(user: UserRecord, password: string): Promise<void> {
    if (!(await hasher.verify(user.passwordHash, password))) throw invalid()
    if (hasher.needsRehash(user.passwordHash)) {
      await store.updatePasswordHash(user.id, await hasher.hash(password), clock())
    }
  }

  return {
    async signup(rawEmail, password) {
      const email = parseEmail(rawEmail)
      if (email === null) throw new AuthError('invalid_request', '`email` is not an email address.')
      requireStrong(password, email.normalized)
      const now = clock()
      const created = await store.createUser({
        id: randomId(),
        email: email.email,
        emailNormalized: email.normalized,
        passwordHash: await hasher.hash(password),
        tokenVersion: 0,
        createdAt: now,
        updatedAt: now,
      })
      if (created === null) {
        throw new AuthError('email_taken', 'An account with this email already exists.')
      }
      return created
    },

    async authenticate(rawEmail, password) {
      const email = parseEmail(rawEmail)
      const user = email === null ? null : await store.getUserByEmail(email.normalized)
      if (user === null) {
        await hasher.verify(await dummyHash, password)
        throw invalid()
      }
      await checkPassword(user, password)
      return user
    },

    checkPassword,

    async changePassword(user, newPassword, keepLoginId) {
      requireStrong(newPassword, user.emailNormalized)
      const hash = await hasher.hash(newPassword)
      const changed = await store.changePassword(user.id, hash, keepLoginId, clock())
      if (changed === null) throw new AuthError('unauthorized', 'The account no longer exists.')
      return { revokedLoginIds: changed.revokedLoginIds }
    },
  }
}
