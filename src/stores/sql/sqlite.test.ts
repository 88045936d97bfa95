import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { sql } from 'kysely'
import { StoreUnavailableError } from '../../errors.js'
import { storeConformanceSuite } from '../conformance.js'
import { appliedMigrations, migrations } from './migrations.js'
import { migrateSqlite, openSqliteStore } from './sqlite.js'

const dir = mkdtempSync(join(tmpdir(), 'latchkey-sqlite-'))
after(() => rmSync(dir, { recursive: true, force: true }))

storeConformanceSuite('sqlite', async () => {
  const store = await openSqliteStore({ filename: join(dir, 'nested', 'conformance.db') })
  return { store, close: () => store.close() }
})

describe('sqlite store', () => {
  it('applies every migration once: reopening the same file applies nothing', async () => {
    const filename = join(dir, 'migrations.db')
    assert.deepEqual(await migrateSqlite(filename), Object.keys(migrations))
    assert.deepEqual(await migrateSqlite(filename), [])

    const store = await openSqliteStore({ filename })
    try {
      assert.deepEqual(await appliedMigrations(store.db), Object.keys(migrations))
    } finally {
      await store.close()
    }
  })

  it('finds the revocation facts since a moment by index, not by a scan', async () => {
    const store = await openSqliteStore({ filename: join(dir, 'plans.db') })
    try {
      for (const [table, column, index] of [
        ['logins', 'revoked_at', 'logins_revoked_at_idx'],
        ['users', 'updated_at', 'users_updated_at_idx'],
      ] as const) {
        const plan = await sql<{ detail: string }>`explain query plan select id from ${sql.table(
          table,
        )} where ${sql.ref(column)} >= ${0}`.execute(store.db)
        assert.match(plan.rows.map((row) => row.detail).join('\n'), new RegExp(index))
      }
    } finally {
      await store.close()
    }
  })

  it('keeps its data across a reopen', async () => {
    const filename = join(dir, 'reopen.db')
    const first = await openSqliteStore({ filename })
    const hit = await first.hitRateLimit('k', 60_000, 1_000)
    await first.close()
    const second = await openSqliteStore({ filename })
    try {
      assert.deepEqual(await second.hitRateLimit('k', 60_000, 2_000), { ...hit, count: 2 })
    } finally {
      await second.close()
    }
  })

  it('reports a database it cannot read as unavailable, keeping the cause', async () => {
    const store = await openSqliteStore({ filename: ':memory:' })
    try {
      await store.db.schema.dropTable('rate_limits').execute()
      await assert.rejects(store.hitRateLimit('k', 1, 1), (error) => {
        assert.ok(error instanceof StoreUnavailableError)
        assert.equal(error.code, 'store_unavailable')
        assert.ok(error.cause instanceof Error)
        return true
      })
    } finally {
      await store.close()
    }
  })
})
