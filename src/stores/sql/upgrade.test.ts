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

describe('sqlite upgrade to 0003_refresh_tokens', () => {
  it('0003 follows 0002', () => {
    assert.deepEqual(Object.keys(migrations).slice(0, 3), [
      '0001_initial',
      '0002_tokens',
      '0003_refresh_tokens',
    ])
  })

  it('a database at 0002 with a token login upgrades and starts a family on it', async () => {
    const filename = join(dir, 'at-0002.db')
    const fresh = await openSqliteStore({ filename })
    const user = {
      id: 'u2',
      email: 'two@example.com',
      emailNormalized: 'two@example.com',
      passwordHash: 'hash',
      tokenVersion: 1,
      createdAt: 1,
      updatedAt: 1,
    }
    const login = {
      id: 'l2',
      userId: 'u2',
      kind: 'token' as const,
      secretHash: null,
      createdAt: 1,
      lastSeenAt: 1,
      idleExpiresAt: 100,
      absoluteExpiresAt: 100,
      ip: null,
      userAgent: null,
      revokedAt: null,
    }
    await fresh.createUser(user)
    await fresh.createLogin(login)
    const { error } = await createMigrator(fresh.db).migrateTo('0002_tokens')
    assert.equal(error, undefined)
    await fresh.close()

    const upgraded = await openSqliteStore({ filename })
    try {
      assert.deepEqual(await upgraded.getLogin('l2'), login)
      const token = {
        id: 'r1',
        familyId: 'l2',
        userId: 'u2',
        secretHash: new Uint8Array(32),
        createdAt: 2,
        spentAt: null,
        childId: null,
      }
      await upgraded.createRefreshToken(token)
      assert.equal((await upgraded.getRefreshToken('r1'))?.familyId, 'l2')
    } finally {
      await upgraded.close()
    }
  })
})
