import { Kysely, PostgresDialect, sql } from 'kysely'
import type {
  DatabaseIntrospector,
  DatabaseMetadata,
  PostgresPool,
  PostgresPoolClient,
  SchemaMetadata,
  TableMetadata,
} from 'kysely'
import pg from 'pg'
import type { Store } from '../contract.js'
import { MIGRATION_TABLE, migrateToLatest } from './migrations.js'
import type { Database } from './schema.js'
import { sqlStore } from './sql-store.js'
import type { SqlRunner } from './sql-store.js'

/** Where the Postgres database lives. */
export interface PostgresStoreOptions {
  /** A `postgres://` URL; `?options=-c search_path=...` selects a schema. */
  connectionString: string
  /** Most connections the pool opens (default 10). */
  max?: number
  /**
   * Prepare the statements every refresh runs, once per connection (default on): Postgres
   * then parses and plans each once instead of on every refresh. Turn off behind a
   * connection pooler in transaction mode that cannot carry prepared statements across
   * its server connections (PgBouncer before 1.21, or without `max_prepared_statements`).
   */
  preparedStatements?: boolean
}

/** A Postgres store; `db` is exposed for tooling and tests, `close()` ends the pool. */
export type PostgresStore = Store & { readonly db: Kysely<Database> }

/** Opens and migrates a Postgres database, then returns a store over it. */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresStore> {
  const statements = new PreparedStatements()
  const { db, pool } = openKysely(options.connectionString, options.max ?? 10, statements)
  try {
    await migrateLocked(db)
  } catch (error) {
    await db.destroy()
    throw error
  }
  const store = sqlStore(db, {
    isUnavailable: isPostgresUnavailable,
    writableCtes: true,
    run: statements.runner(pool),
    ...(options.preparedStatements === false ? {} : { prepare: (text) => statements.add(text) }),
  })
  return { ...store, db }
}

/** Applies pending migrations to a Postgres database (`latchkey migrate`); returns their names. */
export async function migratePostgres(connectionString: string): Promise<string[]> {
  const { db } = openKysely(connectionString, 1)
  try {
    return await migrateLocked(db)
  } finally {
    await db.destroy()
  }
}

// SQLSTATE classes and codes that mean "the database cannot answer now", as opposed to
// a bug in the query or bad data: 08 connection exception, 53 insufficient resources,
// 57P01..57P03 shutdown / cannot connect now, 40001/40P01 serialization / deadlock,
// 55P03 lock not available, 57014 query cancelled (statement timeout).
const UNAVAILABLE_CODES = new Set(['40001', '40P01', '55P03', '57014', '57P01', '57P02', '57P03'])
const NODE_NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
])

/** Whether a `pg` error means the database is unreachable or overloaded (503), not a bug. */
export function isPostgresUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string') {
    if (NODE_NETWORK_CODES.has(code) || UNAVAILABLE_CODES.has(code)) return true
    if (/^(?:08|53)[0-9A-Z]{3}$/.test(code)) return true
    return false
  }
  // Errors without a code come from the client itself: a socket that died mid-query, a
  // pool that has been ended or timed out waiting for a connection.
  return /connection|terminated|timeout|Client has encountered|pool/i.test(error.message)
}

/**
 * The SQL texts to run as named statements, each prepared once per connection (`pg` keeps
 * which it has prepared on each client). A registered statement must name its columns:
 * Postgres refuses to run a prepared statement whose result columns a migration changed.
 * Measured on the refresh's read of a token with its family (2-core VM, Postgres on the
 * same machine): 200 µs of Postgres CPU per call unprepared, 50 µs prepared.
 */
class PreparedStatements {
  readonly #names = new Map<string, string>()

  add(text: string): void {
    if (!this.#names.has(text)) this.#names.set(text, `latchkey_${this.#names.size + 1}`)
  }

  /** The pool as Kysely sees it, each client running registered texts by name. */
  pool(pool: pg.Pool): PostgresPool {
    const names = this.#names
    return {
      async connect(): Promise<PostgresPoolClient> {
        const client = await pool.connect()
        const query = (text: unknown, parameters?: readonly unknown[]) => {
          const name = typeof text === 'string' ? names.get(text) : undefined
          if (name === undefined)
            return (client.query as (...args: unknown[]) => unknown)(text, parameters)
          return client.query({ name, text: text as string, values: [...(parameters ?? [])] })
        }
        return { query: query as PostgresPoolClient['query'], release: () => client.release() }
      },
      end: () => pool.end(),
    }
  }

  /** Runs SQL text on a client of the pool, by name when it is registered. */
  runner(pool: pg.Pool): SqlRunner {
    const names = this.#names
    return async (text, values) => {
      const name = names.get(text)
      const { rows } = await pool.query<Record<string, unknown>>(
        name === undefined ? { text, values } : { name, text, values },
      )
      return rows
    }
  }
}

function openKysely(
  connectionString: string,
  max: number,
  statements = new PreparedStatements(),
): { db: Kysely<Database>; pool: pg.Pool } {
  // `pg_stat_activity` names the connections, unless the URL or PGAPPNAME names them.
  const pool = new pg.Pool({ connectionString, max, fallback_application_name: 'latchkey' })
  // An idle client whose server went away emits 'error' on the pool; without a listener
  // that would crash the process. The next query reports the failure instead.
  pool.on('error', () => {})
  // A client that dies while checked out (a query in flight when the network goes) emits
  // 'error' too, and the pool listens only to idle ones: the query's rejection reports it.
  pool.on('connect', (client) => client.on('error', () => {}))
  const db = new Kysely<Database>({
    dialect: new CurrentSchemaPostgresDialect({ pool: statements.pool(pool) }),
  })
  return { db, pool }
}

// Kysely's Postgres introspector lists the tables of every schema, calling
// has_schema_privilege on each: it fails when another client drops a schema meanwhile,
// and the migrator needs only to know whether its two tables exist here. This one looks
// at the current schema alone (names only, no columns: the migrator is its only user).
class CurrentSchemaPostgresDialect extends PostgresDialect {
  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    const getTables = async (): Promise<TableMetadata[]> => {
      const { rows } = await sql<{ name: string; schema: string; is_view: boolean }>`
        select table_name as name, table_schema as schema, table_type = 'VIEW' as is_view
        from information_schema.tables where table_schema = current_schema()`.execute(db)
      return rows.map((row) => ({
        name: row.name,
        schema: row.schema,
        isView: row.is_view,
        columns: [],
      }))
    }
    return {
      getSchemas: async (): Promise<SchemaMetadata[]> => {
        const { rows } = await sql<{ name: string }>`
          select nspname as name from pg_catalog.pg_namespace`.execute(db)
        return rows
      },
      getTables,
      getMetadata: async (): Promise<DatabaseMetadata> => ({ tables: await getTables() }),
    }
  }
}

// Kysely's migrator takes a transaction-scoped advisory lock only after creating its
// bookkeeping tables (it tolerates a concurrent CREATE failing by looking again). A
// session-level advisory lock keyed by the schema makes whole runs one-at-a-time on one
// dedicated connection, so concurrent starts never depend on that recovery. The
// bookkeeping tables are pinned to the current schema: Kysely otherwise finds them by
// name in any schema and would skip migrating a second schema of the same database.
async function migrateLocked(db: Kysely<Database>): Promise<string[]> {
  return db.connection().execute(async (conn) => {
    const { rows } = await sql<{
      schema: string | null
    }>`select current_schema() as schema`.execute(conn)
    const schema = rows[0]?.schema ?? null
    if (schema === null) {
      throw new Error('Postgres: no schema of the search_path exists; create it first.')
    }
    const key = sql`hashtext(${`${MIGRATION_TABLE}.${schema}`}::text)`
    await sql`select pg_advisory_lock(${key})`.execute(conn)
    try {
      const { applied } = await migrateToLatest(conn, { schema })
      return applied
    } finally {
      await sql`select pg_advisory_unlock(${key})`.execute(conn)
    }
  })
}
