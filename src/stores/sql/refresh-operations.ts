import { CompiledQuery, sql } from 'kysely'
import type { InferResult, Kysely, Selectable } from 'kysely'
import type { Store } from '../contract.js'
import { toLogin, toRefreshToken, toRefreshTokenRow, toUser } from './schema.js'
import type { Database, LoginsTable, RefreshTokensTable, UsersTable } from './schema.js'

/** The refresh-token operations of a store. */
export type RefreshOperations = Pick<
  Store,
  'createRefreshToken' | 'getRefreshToken' | 'getRefreshTokenWithFamily' | 'rotateRefreshToken'
>

/** Every column of a table, checked complete by the compiler. */
type Columns<T> = readonly (keyof T & string)[]
const complete =
  <T>() =>
  <const C extends Columns<T>>(
    columns: C & (Exclude<keyof T, C[number]> extends never ? unknown : never),
  ) =>
    columns

const REFRESH_TOKEN_COLUMNS = complete<RefreshTokensTable>()([
  'id',
  'family_id',
  'user_id',
  'secret_hash',
  'created_at',
  'spent_at',
  'child_id',
])
const LOGIN_COLUMNS = complete<LoginsTable>()([
  'id',
  'user_id',
  'kind',
  'secret_hash',
  'created_at',
  'last_seen_at',
  'idle_expires_at',
  'absolute_expires_at',
  'ip',
  'user_agent',
  'revoked_at',
])
const USER_COLUMNS = complete<UsersTable>()([
  'id',
  'email',
  'email_normalized',
  'password_hash',
  'token_version',
  'created_at',
  'updated_at',
])

/** `table.column as prefix_column` for each column: joined tables share column names. */
const aliased = (table: string, columns: readonly string[], prefix: string) =>
  columns.map((column) => sql.ref(`${table}.${column}`).as(`${prefix}${column}`))

/** The row of one joined table back from its aliases; `null` when the join found none. */
function unaliased<T>(row: Record<string, unknown>, columns: Columns<T>, prefix: string) {
  if (row[`${prefix}id`] === null || row[`${prefix}id`] === undefined) return null
  return Object.fromEntries(
    columns.map((column) => [column, row[`${prefix}${column}`]]),
  ) as Selectable<T>
}

/** The token, its family's login and its user, by the token's id: every refresh reads it. */
function familyQuery(db: Kysely<Database>, id: string) {
  return (
    db
      .selectFrom('refresh_tokens')
      .leftJoin('logins', 'logins.id', 'refresh_tokens.family_id')
      .leftJoin('users', 'users.id', 'logins.user_id')
      // Every column named, never `*`: a prepared statement's columns must not change
      // under it when a migration adds one (Postgres refuses to run it then).
      .select(REFRESH_TOKEN_COLUMNS.map((column) => `refresh_tokens.${column}` as const))
      .select([
        ...aliased('logins', LOGIN_COLUMNS, 'login_'),
        ...aliased('users', USER_COLUMNS, 'user_'),
      ])
      .where('refresh_tokens.id', '=', id)
  )
}
type FamilyRow = InferResult<ReturnType<typeof familyQuery>>[number]

/**
 * Spends the parent, inserts the child and touches the family's login in one statement
 * (`writableCtes`): one snapshot, so the insert and the touch see what the conditional
 * update returned, and a loser (nothing spent) writes nothing.
 */
function rotation(
  parentId: string,
  child: ReturnType<typeof toRefreshTokenRow>,
  now: number,
  idleExpiresAt: number,
) {
  return sql<{ won: boolean }>`
    with spent as (
      update refresh_tokens set spent_at = ${now}, child_id = ${child.id}
      where id = ${parentId} and spent_at is null
      returning id
    ), inserted as (
      insert into refresh_tokens
        (id, family_id, user_id, secret_hash, created_at, spent_at, child_id)
      select ${child.id}, ${child.family_id}, ${child.user_id}, ${child.secret_hash},
        ${child.created_at}, ${child.spent_at}, ${child.child_id}
      from spent
    ), touched as (
      update logins set last_seen_at = ${now}, idle_expires_at = ${idleExpiresAt}
      where id = ${child.family_id} and revoked_at is null and exists (select from spent)
    )
    select exists (select from spent) as won`
}

/** Options of {@link refreshOperations}. */
export interface RefreshOperationsOptions {
  /**
   * Whether the dialect runs writes inside `WITH` (Postgres); a rotation is then one
   * statement instead of a transaction of three: one round trip where the transaction
   * takes five.
   */
  writableCtes: boolean
  /**
   * Registers a statement's SQL text as one the driver may prepare once per connection
   * (Postgres; see `openPostgresStore`). Both statements of every refresh are registered.
   */
  prepare?: (text: string) => void
}

/**
 * The refresh-token operations of the SQL store, run through its `guard`. The family read
 * (Kysely took about 100 µs to build it on every call) is compiled once, here; the
 * rotation is plain SQL text. Both are registered with `prepare`.
 */
export function refreshOperations(
  db: Kysely<Database>,
  guard: <T>(query: () => Promise<T>) => Promise<T>,
  options: RefreshOperationsOptions,
): RefreshOperations {
  const family = familyQuery(db, '').compile().sql
  options.prepare?.(family)
  if (options.writableCtes && options.prepare !== undefined) {
    // The statement's text does not depend on the values it is compiled with.
    const empty = {
      id: '',
      family_id: '',
      user_id: '',
      secret_hash: '',
      created_at: 0,
      spent_at: null,
      child_id: null,
    }
    options.prepare(rotation('', empty, 0, 0).compile(db).sql)
  }

  return {
    async createRefreshToken(token) {
      await guard(() => db.insertInto('refresh_tokens').values(toRefreshTokenRow(token)).execute())
    },

    async getRefreshToken(id) {
      const row = await guard(() =>
        db.selectFrom('refresh_tokens').selectAll().where('id', '=', id).executeTakeFirst(),
      )
      return row === undefined ? null : toRefreshToken(row)
    },

    async getRefreshTokenWithFamily(id) {
      const { rows } = await guard(() =>
        db.executeQuery<FamilyRow>(CompiledQuery.raw(family, [id])),
      )
      const row = rows[0]
      if (row === undefined) return null
      const login = unaliased<LoginsTable>(row, LOGIN_COLUMNS, 'login_')
      const user = unaliased<UsersTable>(row, USER_COLUMNS, 'user_')
      return {
        token: toRefreshToken(row),
        login: login === null ? null : toLogin(login),
        user: user === null ? null : toUser(user),
      }
    },

    rotateRefreshToken: (parentId, child, now, idleExpiresAt) =>
      guard(async () => {
        if (options.writableCtes) {
          const { rows } = await rotation(
            parentId,
            toRefreshTokenRow(child),
            now,
            idleExpiresAt,
          ).execute(db)
          return rows[0]?.won === true
        }
        return db.transaction().execute(async (trx) => {
          // The conditional update is the whole race: on any dialect, of concurrent
          // rotations of one parent only one sees `spent_at is null` and changes a row.
          const spent = await trx
            .updateTable('refresh_tokens')
            .set({ spent_at: now, child_id: child.id })
            .where('id', '=', parentId)
            .where('spent_at', 'is', null)
            .executeTakeFirst()
          if (spent.numUpdatedRows === 0n) return false
          await trx.insertInto('refresh_tokens').values(toRefreshTokenRow(child)).execute()
          // A revoked family stays revoked; its new child is then as dead as the family.
          await trx
            .updateTable('logins')
            .set({ last_seen_at: now, idle_expires_at: idleExpiresAt })
            .where('id', '=', child.familyId)
            .where('revoked_at', 'is', null)
            .execute()
          return true
        })
      }),
  }
}
