import { CompiledQuery, sql } from 'kysely'
import type { InferResult, Kysely, Selectable } from 'kysely'
import { mayRotate, renewalOf } from '../contract.js'
import type { RefreshTokenWithFamily, RotatedFamily, Rotation, Store } from '../contract.js'
import { toLogin, toRefreshToken, toRefreshTokenRow, toUser } from './schema.js'
import type { Database, LoginsTable, RefreshTokensTable, UsersTable } from './schema.js'
import type { SqlRunner } from './sql-store.js'

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

/**
 * The prefixes of joined tables' columns. None may turn a column into another table's:
 * `user_` made `users.id` into `user_id`, the token's own column, which it then hid.
 */
const LOGIN_PREFIX = 'logins_'
const USER_PREFIX = 'users_'

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
        ...aliased('logins', LOGIN_COLUMNS, LOGIN_PREFIX),
        ...aliased('users', USER_COLUMNS, USER_PREFIX),
      ])
      .where('refresh_tokens.id', '=', id)
  )
}
type FamilyRow = InferResult<ReturnType<typeof familyQuery>>[number]

const base64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url')
/**
 * A row of `table` as one JSON object of the named columns (the names are constants). A
 * statement answers an object per table in one column each: `pg` decodes it with
 * `JSON.parse`, where a row of 20-odd columns cost it a row description of as many fields,
 * and a parser and a property each, on every refresh.
 */
const jsonRow = (table: string, columns: readonly string[]) =>
  `json_build_object(${columns.map((column) => `'${column}', ${table}.${column}`).join(', ')})`

/**
 * A whole rotation in one statement (`writableCtes`): the family read with every check of
 * `mayRotate`, the conditional spend, the child's insert and, when due, the login's
 * renewal, on one snapshot. The spend re-checks `spent_at is null` on the row it locks, so
 * of concurrent rotations one wins; a loser writes nothing. The renewal skips a login
 * revoked meanwhile (then `renewal_due` with nothing renewed). One round trip, where
 * reading the family first and rotating after took two. The login and user come back as
 * read, with the two columns a renewal writes beside them. Parameters: see
 * `rotationValues`.
 */
const ROTATION = `
    with parent as (
      select t.id, l.last_seen_at < $7 as renewal_due,
        ${jsonRow('l', LOGIN_COLUMNS)} as login, ${jsonRow('u', USER_COLUMNS)} as account
      from refresh_tokens t
      join logins l on l.id = t.family_id
      join users u on u.id = l.user_id
      where t.id = $1 and t.spent_at is null and t.secret_hash = $2
        and l.user_id = t.user_id and l.kind = 'token' and l.revoked_at is null
        and l.idle_expires_at > $3 and l.absolute_expires_at > $3
    ), spent as (
      update refresh_tokens t set spent_at = $3, child_id = $4
      from parent
      where t.id = parent.id and t.spent_at is null
      returning t.family_id, t.user_id
    ), inserted as (
      insert into refresh_tokens
        (id, family_id, user_id, secret_hash, created_at, spent_at, child_id)
      select $4, family_id, user_id, $5, $3, null, null
      from spent
    ), renewed as (
      update logins l
      set last_seen_at = $3, idle_expires_at = least($6, l.absolute_expires_at)
      from spent
      where l.id = spent.family_id and l.revoked_at is null and l.last_seen_at < $7
      returning l.last_seen_at, l.idle_expires_at
    )
    select parent.renewal_due, parent.login, parent.account,
      renewed.last_seen_at as renewed_last_seen_at,
      renewed.idle_expires_at as renewed_idle_expires_at
    from spent
    join parent on true
    left join renewed on true`

/** The parameters of {@link ROTATION}, `$1` to `$7`. */
const rotationValues = (rotation: Rotation): unknown[] => [
  rotation.parentId,
  base64url(rotation.secretHash),
  rotation.now,
  rotation.child.id,
  base64url(rotation.child.secretHash),
  rotation.now + rotation.idleMs,
  rotation.renewIfSeenBefore,
]

/** A row of {@link ROTATION}. */
interface RotationRow {
  renewal_due: boolean
  login: Selectable<LoginsTable>
  account: Selectable<UsersTable>
  renewed_last_seen_at: string | number | null
  renewed_idle_expires_at: string | number | null
}

/**
 * The family as the rotation statement left it: the login as read, renewed when the
 * statement renewed it, or `null` when a renewal was due and found the login revoked
 * meanwhile.
 */
function rotatedOf(row: RotationRow): RotatedFamily {
  const user = toUser(row.account)
  const login = toLogin(row.login)
  if (row.renewed_last_seen_at === null) {
    return { login: row.renewal_due ? null : login, user, renewed: false }
  }
  const lastSeenAt = Number(row.renewed_last_seen_at)
  const idleExpiresAt = Number(row.renewed_idle_expires_at)
  return { login: { ...login, lastSeenAt, idleExpiresAt }, user, renewed: true }
}

/** A row with a login's columns and a user's, prefixed, either may be null. */
type FamilyColumns = Record<string, unknown>

/** The login and user of a joined row (`familyQuery`); `null` for a table the join did not find. */
function familyOf(row: FamilyColumns): Omit<RotatedFamily, 'renewed'> {
  const login = unaliased<LoginsTable>(row, LOGIN_COLUMNS, LOGIN_PREFIX)
  const user = unaliased<UsersTable>(row, USER_COLUMNS, USER_PREFIX)
  return {
    login: login === null ? null : toLogin(login),
    user: user === null ? null : toUser(user),
  }
}

/** Options of {@link refreshOperations}. */
export interface RefreshOperationsOptions {
  /**
   * Whether the dialect runs writes inside `WITH` (Postgres); a rotation is then one
   * statement instead of a transaction of a read and three writes: one round trip where
   * the transaction takes six.
   */
  writableCtes: boolean
  /**
   * Registers a statement's SQL text as one the driver may prepare once per connection
   * (Postgres; see `openPostgresStore`). The statements of every refresh are registered.
   */
  prepare?: (text: string) => void
  /** Runs the rotation statement past Kysely (see `SqlStoreOptions.run`). */
  run?: SqlRunner | undefined
}

/**
 * The refresh-token operations of the SQL store, run through its `guard`. The family read
 * (Kysely took about 100 µs to build it on every call) is compiled once, here; the
 * rotation is plain SQL text, run on the driver itself where the store has `run`. Both
 * are registered with `prepare`.
 */
export function refreshOperations(
  db: Kysely<Database>,
  guard: <T>(query: () => Promise<T>) => Promise<T>,
  options: RefreshOperationsOptions,
): RefreshOperations {
  const family = familyQuery(db, '').compile().sql
  options.prepare?.(family)
  if (options.writableCtes) options.prepare?.(ROTATION)
  const run =
    options.run ??
    (async (text: string, values: unknown[]) =>
      (await db.executeQuery<FamilyColumns>(CompiledQuery.raw(text, values))).rows)

  /** The token, its login and its user, decoded from the family read's row. */
  async function readFamily(
    executor: Kysely<Database>,
    id: string,
  ): Promise<RefreshTokenWithFamily | null> {
    const { rows } = await executor.executeQuery<FamilyRow>(CompiledQuery.raw(family, [id]))
    const row = rows[0]
    return row === undefined ? null : { token: toRefreshToken(row), ...familyOf(row) }
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

    getRefreshTokenWithFamily: (id) => guard(() => readFamily(db, id)),

    rotateRefreshToken: (request) =>
      guard(async () => {
        if (options.writableCtes) {
          const row = (await run(ROTATION, rotationValues(request)))[0] as RotationRow | undefined
          return row === undefined ? null : rotatedOf(row)
        }
        const { parentId, child, now } = request
        return db.transaction().execute(async (trx) => {
          const found = await readFamily(trx, parentId)
          if (!mayRotate(found, request)) return null
          // The conditional update is the whole race: on any dialect, of concurrent
          // rotations of one parent only one sees `spent_at is null` and changes a row.
          const spent = await trx
            .updateTable('refresh_tokens')
            .set({ spent_at: now, child_id: child.id })
            .where('id', '=', parentId)
            .where('spent_at', 'is', null)
            .executeTakeFirst()
          if (spent.numUpdatedRows === 0n) return null
          const { token: parent, login, user } = found
          await trx
            .insertInto('refresh_tokens')
            .values(
              toRefreshTokenRow({
                id: child.id,
                familyId: parent.familyId,
                userId: parent.userId,
                secretHash: child.secretHash,
                createdAt: now,
                spentAt: null,
                childId: null,
              }),
            )
            .execute()
          const renewal = renewalOf(login, request)
          if (renewal === null) return { login, user, renewed: false }
          await trx
            .updateTable('logins')
            .set({ last_seen_at: renewal.lastSeenAt, idle_expires_at: renewal.idleExpiresAt })
            .where('id', '=', login.id)
            .execute()
          return { login: { ...login, ...renewal }, user, renewed: true }
        })
      }),
  }
}
