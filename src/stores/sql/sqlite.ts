import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SqliteDatabase from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import type { Store } from '../contract.js'
import { migrateToLatest } from './migrations.js'
import type { Database } from './schema.js'
import { sqlStore } from './sql-store.js'

/** Where the SQLite database lives. */
export interface SqliteStoreOptions {
  /** A file path (its directory is created if missing), or `:memory:`. */
  filename: string
}

/** A SQLite store; `db` is exposed for tooling and tests, `close()` releases the file. */
export type SqliteStore = Store & { readonly db: Kysely<Database> }

/** Opens (creating if needed) and migrates a SQLite database, then returns a store over it. */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<SqliteStore> {
  const db = openKysely(options.filename)
  try {
    await migrateToLatest(db)
  } catch (error) {
    await db.destroy()
    throw error
  }
  return { ...sqlStore(db), db }
}

/** Applies pending migrations to a SQLite file (`latchkey migrate`); returns their names. */
export async function migrateSqlite(filename: string): Promise<string[]> {
  const db = openKysely(filename)
  try {
    const { applied } = await migrateToLatest(db)
    return applied
  } finally {
    await db.destroy()
  }
}

function openKysely(filename: string): Kysely<Database> {
  if (filename !== ':memory:' && filename !== '') {
    mkdirSync(dirname(filename), { recursive: true })
  }
  const sqlite = new SqliteDatabase(filename)
  // WAL lets readers proceed during a write; NORMAL is durable across crashes of the
  // process in WAL mode; busy_timeout rides out another process (`latchkey migrate`)
  // holding the write lock instead of failing at once; SQLite leaves foreign keys off
  // unless asked, and logins rely on them to cascade.
  try {
    sqlite.pragma('journal_mode = WAL')
    sqlite.pragma('foreign_keys = ON')
    sqlite.pragma('busy_timeout = 5000')
    sqlite.pragma('synchronous = NORMAL')
  } catch (error) {
    sqlite.close()
    throw error
  }
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) })
}
