import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { createMigrator, migrations } from './migrations.js'
import { openSqliteStore } from './sqlite.js'

const dir = mkdtempSync(join(tmpdir(), 'latchkey-upgrade-'))
after(() => rmSync(dir, { recursive: true, force: true }))

describe('sqlite upgrade to 0002_tokens', () => {
  it('0002 is a migration of its own after 0001, which stays the first', () => {
    assert.deepEqual(Object.keys(migrations).slice(0, 2), ['0001_initial', '0002_tokens'])
  })

  it('a database at 0001 with a user upgrades and keeps the user', async () => {
    const filename = join(dir, 'old.db')
    // Build a 0001-only database by rolling the fresh one back one step.
    const fresh = await openSqliteStore({ filename })
    const user = {
      id: 'u1',
      email: 'old@example.com',
      emailNormalized: 'old@example.com',
      passwordHash: 'hash',
      tokenVersion: 3,
      createdAt: 1,
      updatedAt: 1,
    }
    await fresh.createUser(user)
    const { error } = await createMigrator(fresh.db).migrateTo('0001_initial')
    assert.equal(error, undefined)
    await fresh.close()

    const upgraded = await openSqliteStore({ filename })
    try {
      assert.deepEqual(await upgraded.getUserById('u1'), user)
      assert.deepEqual(await upgraded.listSigningKeys(), [])
      await upgraded.denyToken('j', 10)
      assert.equal(await upgraded.isTokenDenied('j', 5), true)
    } finally {
      await upgraded.close()
    }
  })
})
