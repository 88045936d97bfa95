import { Migrator } from 'kysely'
import type { Kysely, Migration, MigrationProvider } from 'kysely'
import type { Database } from './schema.js'

/** Names of the bookkeeping tables, prefixed so a shared Postgres keeps them apart. */
export const MIGRATION_TABLE = 'latchkey_migration'
export const MIGRATION_LOCK_TABLE = 'latchkey_migration_lock'

// Migrations are written with the schema builder only, so the same code runs on SQLite
// and Postgres. `bigint` gets integer affinity on SQLite; the hash is base64url text
// because Kysely has no portable binary type (blob vs bytea).
const initial: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('users')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('email', 'text', (col) => col.notNull())
      .addColumn('email_normalized', 'text', (col) => col.notNull().unique())
      .addColumn('password_hash', 'text', (col) => col.notNull())
      .addColumn('token_version', 'integer', (col) => col.notNull())
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('updated_at', 'bigint', (col) => col.notNull())
      .execute()

    await db.schema
      .createTable('logins')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('user_id', 'text', (col) =>
        col.notNull().references('users.id').onDelete('cascade'),
      )
      .addColumn('kind', 'text', (col) => col.notNull())
      .addColumn('secret_hash', 'text')
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('last_seen_at', 'bigint', (col) => col.notNull())
      .addColumn('idle_expires_at', 'bigint', (col) => col.notNull())
      .addColumn('absolute_expires_at', 'bigint', (col) => col.notNull())
      .addColumn('ip', 'text')
      .addColumn('user_agent', 'text')
      .addColumn('revoked_at', 'bigint')
      .execute()

    await db.schema.createIndex('logins_user_id_idx').on('logins').column('user_id').execute()

    await db.schema
      .createTable('rate_limits')
      .addColumn('key', 'text', (col) => col.primaryKey())
      .addColumn('count', 'integer', (col) => col.notNull())
      .addColumn('reset_at', 'bigint', (col) => col.notNull())
      .execute()
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('rate_limits').execute()
    await db.schema.dropTable('logins').execute()
    await db.schema.dropTable('users').execute()
  },
}

// The keyring and the jti denylist of stateless access tokens.
const tokens: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('signing_keys')
      .addColumn('kid', 'text', (col) => col.primaryKey())
      .addColumn('alg', 'text', (col) => col.notNull())
      .addColumn('public_jwk', 'text')
      .addColumn('encrypted_private_key', 'text', (col) => col.notNull())
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('activates_at', 'bigint', (col) => col.notNull())
      .addColumn('retired_at', 'bigint')
      .addColumn('expires_at', 'bigint')
      .execute()

    await db.schema
      .createTable('denied_tokens')
      .addColumn('jti', 'text', (col) => col.primaryKey())
      .addColumn('expires_at', 'bigint', (col) => col.notNull())
      .execute()

    await db.schema
      .createIndex('denied_tokens_expires_at_idx')
      .on('denied_tokens')
      .column('expires_at')
      .execute()
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('denied_tokens').execute()
    await db.schema.dropTable('signing_keys').execute()
  },
}

// Refresh-token families: the family is a login (kind `token`), so deleting an expired
// login takes its tokens along.
const refreshTokens: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('refresh_tokens')
      .addColumn('id', 'text', (col) => col.primaryKey())
      .addColumn('family_id', 'text', (col) =>
        col.notNull().references('logins.id').onDelete('cascade'),
      )
      .addColumn('user_id', 'text', (col) => col.notNull())
      .addColumn('secret_hash', 'text', (col) => col.notNull())
      .addColumn('created_at', 'bigint', (col) => col.notNull())
      .addColumn('spent_at', 'bigint')
      .addColumn('child_id', 'text')
      .execute()

    await db.schema
      .createIndex('refresh_tokens_family_id_idx')
      .on('refresh_tokens')
      .column('family_id')
      .execute()
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('refresh_tokens').execute()
  },
}

/**
 * Indexes for `listRevocationFacts`, which a server runs on every connect of its bus to
 * seed the log: the logins revoked and the users changed since a moment, without a scan
 * of every login and every user.
 */
const revocationIndexes: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createIndex('logins_revoked_at_idx').on('logins').column('revoked_at').execute()
    await db.schema.createIndex('users_updated_at_idx').on('users').column('updated_at').execute()
  },

  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('users_updated_at_idx').execute()
    await db.schema.dropIndex('logins_revoked_at_idx').execute()
  },
}

/** Every migration, by name; names sort in the order they must run. */
export const migrations: Readonly<Record<string, Migration>> = {
  '0001_initial': initial,
  '0002_tokens': tokens,
  '0003_refresh_tokens': refreshTokens,
  '0004_revocation_indexes': revocationIndexes,
}

// In code rather than FileMigrationProvider: the package ships compiled `dist/`, and
// reading migration files from disk would depend on where it was installed.
const provider: MigrationProvider = {
  getMigrations: () => Promise.resolve({ ...migrations }),
}

/** Options of {@link createMigrator}. */
export interface MigratorOptions {
  /**
   * The schema holding the bookkeeping tables (Postgres). Without it Kysely looks for them
   * by name in every schema, so a second schema in the same database would be skipped.
   */
  schema?: string
}

/** A Kysely migrator over the built-in migrations. */
export function createMigrator(db: Kysely<Database>, options: MigratorOptions = {}): Migrator {
  return new Migrator({
    db,
    provider,
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: MIGRATION_LOCK_TABLE,
    ...(options.schema === undefined ? {} : { migrationTableSchema: options.schema }),
  })
}

/** Applies every pending migration; returns the names applied, throws when one fails. */
export async function migrateToLatest(
  db: Kysely<Database>,
  options: MigratorOptions = {},
): Promise<{ applied: string[] }> {
  const { error, results = [] } = await createMigrator(db, options).migrateToLatest()
  if (error !== undefined) {
    const failed = results.find((result) => result.status === 'Error')?.migrationName
    const where = failed === undefined ? '' : ` in "${failed}"`
    const reason = error instanceof Error ? error.message : JSON.stringify(error)
    throw new Error(`Database migration failed${where}: ${reason}`, { cause: error })
  }
  const applied = results
    .filter((result) => result.status === 'Success')
    .map((result) => result.migrationName)
  return { applied }
}

/** The names of the migrations a database has applied, in order. */
export async function appliedMigrations(db: Kysely<Database>): Promise<string[]> {
  const rows = await db
    .withTables<{ [MIGRATION_TABLE]: { name: string } }>()
    .selectFrom(MIGRATION_TABLE)
    .select('name')
    .orderBy('name')
    .execute()
  return rows.map((row) => row.name)
}
