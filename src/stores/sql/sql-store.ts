import { sql } from 'kysely'
import type { ExpressionBuilder, Kysely } from 'kysely'
import { StoreUnavailableError } from '../../errors.js'
import type { Store } from '../contract.js'
import { toLogin, toLoginRow, toUser, toUserRow } from './schema.js'
import type { Database } from './schema.js'
import { refreshOperations } from './refresh-operations.js'
import { revocationOperations } from './revocation-operations.js'
import { tokenOperations } from './token-operations.js'

/** Options of {@link sqlStore}. */
export interface SqlStoreOptions {
  /**
   * Decides whether a driver error means "the store cannot answer" (503) rather than a
   * bug. The default treats JavaScript type errors and integrity-constraint violations
   * as bugs and everything else (connection, I/O, lock timeouts) as unavailability.
   */
  isUnavailable?: (error: unknown) => boolean
  /**
   * Whether the dialect runs writes inside `WITH` (Postgres does, SQLite does not); where
   * it can, a multi-statement write becomes one statement: one round trip to the server.
   */
  writableCtes?: boolean
  /**
   * Registers a statement's SQL text as one the driver may prepare once per connection:
   * the store registers the statements every refresh runs. Only statements that name
   * their columns are registered.
   */
  prepare?: (text: string) => void
  /**
   * Runs SQL text with positional parameters (`$1`…) on the driver itself, past the query
   * builder. The rotation of every refresh takes this path where it exists (Postgres):
   * Kysely's executor, connection provider and result mapping cost the event loop about
   * 25 µs of a rotation's 135 (measured in-process, warm), and more when one refresh runs
   * among hundreds of other requests.
   */
  run?: SqlRunner
}

/** See {@link SqlStoreOptions.run}: the rows of a statement, as the driver decodes them. */
export type SqlRunner = (text: string, values: unknown[]) => Promise<Record<string, unknown>[]>

const PROGRAMMING_ERRORS = [TypeError, RangeError, ReferenceError, SyntaxError]

/** The default classification of {@link SqlStoreOptions.isUnavailable}. */
export function isUnavailableByDefault(error: unknown): boolean {
  if (PROGRAMMING_ERRORS.some((kind) => error instanceof kind)) return false
  const code = (error as { code?: unknown } | null)?.code
  // A constraint violation means a caller passed bad data: SQLite's SQLITE_CONSTRAINT_*
  // and SQLSTATE class 23 on Postgres. Hiding it behind a 503 would hide the bug.
  if (
    typeof code === 'string' &&
    (code.startsWith('SQLITE_CONSTRAINT') || /^23[0-9A-Z]{3}$/.test(code))
  ) {
    return false
  }
  return true
}

/** A {@link Store} over any Kysely dialect with upserts and RETURNING (SQLite, Postgres). */
export function sqlStore(db: Kysely<Database>, options: SqlStoreOptions = {}): Store {
  const isUnavailable = options.isUnavailable ?? isUnavailableByDefault

  // The single boundary where driver failures become StoreUnavailableError. Only the
  // database call runs inside it, so a bug in the mapping code is never disguised.
  async function guard<T>(query: () => Promise<T>): Promise<T> {
    try {
      return await query()
    } catch (error) {
      if (error instanceof StoreUnavailableError || !isUnavailable(error)) throw error
      throw new StoreUnavailableError(error)
    }
  }

  function revokeLive(
    executor: Kysely<Database>,
    userId: string,
    exceptLoginId: string | null,
    now: number,
  ): Promise<{ id: string }[]> {
    let query = executor
      .updateTable('logins')
      .set({ revoked_at: now })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null)
    if (exceptLoginId !== null) query = query.where('id', '!=', exceptLoginId)
    return query.returning('id').execute()
  }

  return {
    async createUser(user) {
      const row = await guard(() =>
        db
          .insertInto('users')
          .values(toUserRow(user))
          .onConflict((oc) => oc.column('email_normalized').doNothing())
          .returningAll()
          .executeTakeFirst(),
      )
      return row === undefined ? null : toUser(row)
    },

    async getUserById(id) {
      const row = await guard(() =>
        db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst(),
      )
      return row === undefined ? null : toUser(row)
    },

    async getUserByEmail(emailNormalized) {
      const row = await guard(() =>
        db
          .selectFrom('users')
          .selectAll()
          .where('email_normalized', '=', emailNormalized)
          .executeTakeFirst(),
      )
      return row === undefined ? null : toUser(row)
    },

    async updatePasswordHash(userId, passwordHash, now) {
      await guard(() =>
        db
          .updateTable('users')
          .set({ password_hash: passwordHash, updated_at: now })
          .where('id', '=', userId)
          .execute(),
      )
    },

    async changePassword(userId, passwordHash, keepLoginId, now) {
      return guard(() =>
        db.transaction().execute(async (trx) => {
          const user = await trx
            .updateTable('users')
            .set((eb) => ({
              password_hash: passwordHash,
              token_version: eb('token_version', '+', 1),
              updated_at: now,
            }))
            .where('id', '=', userId)
            .returning('token_version')
            .executeTakeFirst()
          if (user === undefined) return null
          const revoked = await revokeLive(trx, userId, keepLoginId, now)
          return {
            tokenVersion: Number(user.token_version),
            revokedLoginIds: revoked.map((row) => row.id),
          }
        }),
      )
    },

    async bumpTokenVersion(userId, now) {
      const row = await guard(() =>
        db
          .updateTable('users')
          .set((eb) => ({ token_version: eb('token_version', '+', 1), updated_at: now }))
          .where('id', '=', userId)
          .returning('token_version')
          .executeTakeFirst(),
      )
      return row === undefined ? null : Number(row.token_version)
    },

    async createLogin(login) {
      await guard(() => db.insertInto('logins').values(toLoginRow(login)).execute())
    },

    async getLogin(id) {
      const row = await guard(() =>
        db.selectFrom('logins').selectAll().where('id', '=', id).executeTakeFirst(),
      )
      return row === undefined ? null : toLogin(row)
    },

    async touchLogin(id, lastSeenAt, idleExpiresAt) {
      // Also refuses an expired login: extending its idle expiry would resurrect it.
      const result = await guard(() =>
        db
          .updateTable('logins')
          .set({ last_seen_at: lastSeenAt, idle_expires_at: idleExpiresAt })
          .where('id', '=', id)
          .where((eb) => isLive(eb, lastSeenAt))
          .executeTakeFirst(),
      )
      return result.numUpdatedRows > 0n
    },

    async revokeLogin(userId, loginId, now) {
      const result = await guard(() =>
        db
          .updateTable('logins')
          .set({ revoked_at: now })
          .where('id', '=', loginId)
          .where('user_id', '=', userId)
          .where('revoked_at', 'is', null)
          .executeTakeFirst(),
      )
      return result.numUpdatedRows > 0n
    },

    async revokeUserLogins(userId, exceptLoginId, now) {
      const rows = await guard(() => revokeLive(db, userId, exceptLoginId, now))
      return rows.map((row) => row.id)
    },

    async listLiveLogins(userId, now) {
      const rows = await guard(() =>
        db
          .selectFrom('logins')
          .selectAll()
          .where('user_id', '=', userId)
          .where((eb) => isLive(eb, now))
          .orderBy('created_at', 'desc')
          .orderBy('id', 'desc')
          .execute(),
      )
      return rows.map(toLogin)
    },

    async hitRateLimit(key, windowMs, now) {
      // One statement, so concurrent hits on any node serialize on the row. SET
      // expressions all read the row as it was before this update.
      const row = await guard(() =>
        db
          .insertInto('rate_limits')
          .values({ key, count: 1, reset_at: now + windowMs })
          .onConflict((oc) =>
            oc.column('key').doUpdateSet((eb) => {
              const windowOver = eb('rate_limits.reset_at', '<=', now)
              return {
                count: eb
                  .case()
                  .when(windowOver)
                  .then(eb.lit(1))
                  .else(eb('rate_limits.count', '+', 1))
                  .end(),
                reset_at: eb
                  .case()
                  .when(windowOver)
                  .then(eb.ref('excluded.reset_at'))
                  .else(eb.ref('rate_limits.reset_at'))
                  .end()
                  .$castTo<number>(),
              }
            }),
          )
          .returning(['count', 'reset_at'])
          .executeTakeFirstOrThrow(),
      )
      return { count: Number(row.count), resetAt: Number(row.reset_at) }
    },

    ...tokenOperations(db, guard),

    ...refreshOperations(db, guard, {
      writableCtes: options.writableCtes ?? false,
      prepare: options.prepare,
      run: options.run,
    }),

    ...revocationOperations(db, guard),

    async deleteExpired(now) {
      const [logins, limits, denied] = await guard(() =>
        db.transaction().execute(async (trx) => [
          await trx
            .deleteFrom('logins')
            .where((eb) =>
              eb.or([eb('idle_expires_at', '<=', now), eb('absolute_expires_at', '<=', now)]),
            )
            .executeTakeFirst(),
          await trx.deleteFrom('rate_limits').where('reset_at', '<=', now).executeTakeFirst(),
          await trx.deleteFrom('denied_tokens').where('expires_at', '<=', now).executeTakeFirst(),
        ]),
      )
      return Number(logins.numDeletedRows + limits.numDeletedRows + denied.numDeletedRows)
    },

    async ping() {
      await guard(() => sql`select 1`.execute(db))
    },

    close() {
      return db.destroy()
    },
  }
}

/** Not revoked, and neither expiry reached at `now`. */
function isLive(eb: ExpressionBuilder<Database, 'logins'>, now: number) {
  return eb.and([
    eb('revoked_at', 'is', null),
    eb('idle_expires_at', '>', now),
    eb('absolute_expires_at', '>', now),
  ])
}
