import { CompiledQuery, sql } from 'kysely'
import type { InferResult, Kysely, Selectable } from 'kysely'
import { mayRotate, renewalOf } from '../contract.js'
import type { RefreshTokenWithFamily, RotatedFamily, Rotation, Store } from '../contract.js'
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
/** `table.column as prefix_column` for each column, as SQL text (the names are constants). */
const aliasedText = (table: string, columns: readonly string[], prefix: string) =>
  columns.map((column) => `${table}.${column} as ${prefix}${column}`).join(', ')

/** The prefix of the family login's columns as the rotation read them, before any write. */
const SEEN_PREFIX = 'seen_'

/**
 * A whole rotation in one statement (`writableCtes`): the family read with every check of
 * `mayRotate`, the conditional spend, the child's insert and, when due, the login's
 * renewal, on one snapshot. The spend re-checks `spent_at is null` on the row it locks, so
 * of concurrent rotations one wins; a loser writes nothing. The renewal skips a login
 * revoked meanwhile, which then comes back `null`. One round trip, where reading the
 * family first and rotating after took two.
 */
function rotation({ parentId, secretHash, child, now, idleMs, renewIfSeenBefore }: Rotation) {
  return sql<FamilyColumns>`
    with parent as (
      select t.id, l.last_seen_at < ${renewIfSeenBefore} as renewal_due,
        ${sql.raw(aliasedText('l', LOGIN_COLUMNS, SEEN_PREFIX))}
      from refresh_tokens t
      join logins l on l.id = t.family_id
      join users u on u.id = l.user_id
      where t.id = ${parentId} and t.spent_at is null and t.secret_hash = ${base64url(secretHash)}
        and l.user_id = t.user_id and l.kind = 'token' and l.revoked_at is null
        and l.idle_expires_at > ${now} and l.absolute_expires_at > ${now}
    ), spent as (
      update refresh_tokens t set spent_at = ${now}, child_id = ${child.id}
      from parent
      where t.id = parent.id and t.spent_at is null
      returning t.family_id, t.user_id
    ), inserted as (
      insert into refresh_tokens
        (id, family_id, user_id, secret_hash, created_at, spent_at, child_id)
      select ${child.id}, family_id, user_id, ${base64url(child.secretHash)}, ${now}, null, null
      from spent
    ), renewed as (
      update logins l
      set last_seen_at = ${now}, idle_expires_at = least(${now + idleMs}, l.absolute_expires_at)
      from spent
      where l.id = spent.family_id and l.revoked_at is null
        and l.last_seen_at < ${renewIfSeenBefore}
      returning ${sql.raw(LOGIN_COLUMNS.map((column) => `l.${column}`).join(', '))}
    )
    select ${sql.raw(aliasedText('renewed', LOGIN_COLUMNS, LOGIN_PREFIX))},
      parent.renewal_due,
      ${sql.raw(LOGIN_COLUMNS.map((column) => `parent.${SEEN_PREFIX}${column}`).join(', '))},
      ${sql.raw(aliasedText('users', USER_COLUMNS, USER_PREFIX))}
    from spent
    join parent on true
    left join renewed on true
    left join users on users.id = spent.user_id`
}

/**
 * The family as the rotation statement left it: the renewed login, else the login as it
 * read it, or `null` when a renewal was due and found the login revoked meanwhile.
 */
function rotatedOf(row: FamilyColumns): RotatedFamily {
  const renewed = row[`${LOGIN_PREFIX}id`] !== null
  const { login, user } = familyOf(row, renewed ? LOGIN_PREFIX : SEEN_PREFIX)
  const revokedMeanwhile = !renewed && row['renewal_due'] === true
  return { login: revokedMeanwhile ? null : login, user, renewed }
}

/** A row with a login's columns and a user's, prefixed, either may be null. */
type FamilyColumns = Record<string, unknown>

/**
 * The login (its columns under `loginPrefix`) and user of a joined row; `null` for a table
 * the join did not find.
 */
function familyOf(row: FamilyColumns, loginPrefix = LOGIN_PREFIX): Omit<RotatedFamily, 'renewed'> {
  const login = unaliased<LoginsTable>(row, LOGIN_COLUMNS, loginPrefix)
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
    const none = new Uint8Array()
    const empty = { parentId: '', secretHash: none, child: { id: '', secretHash: none } }
    options.prepare(rotation({ ...empty, now: 0, idleMs: 0, renewIfSeenBefore: 0 }).compile(db).sql)
  }

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
          const { rows } = await rotation(request).execute(db)
          const row = rows[0]
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
