import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import type { Kysely } from 'kysely'
import { openPostgresStore } from '../../src/stores/sql/postgres.js'
import type { Database } from '../../src/stores/sql/schema.js'
import { openSqliteStore } from '../../src/stores/sql/sqlite.js'
import type { SqliteStore } from '../../src/stores/sql/sqlite.js'
import { harness } from '../harness.js'
import { serviceAvailable } from '../services/gate.js'
import { freshSchema, postgresUnreachable } from '../services/postgres.js'
import type { Harness } from '../harness.js'
import { outcome, probe, refresh, refreshed, tokenUser, SECOND } from './helpers.js'
import type { TokenBody } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'latchkey-refresh-race-'))
after(() => rmSync(dir, { recursive: true, force: true }))

async function sqliteHarness(name: string): Promise<Harness> {
  return harness({ store: await openSqliteStore({ filename: join(dir, `${name}.db`) }) })
}

/** Sends `n` refreshes of one token at once; returns every status and body. */
async function stampede(h: Harness, token: string, n: number) {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const response = await refresh(h, token)
      return {
        status: response.status,
        body: (await response.json()) as Partial<TokenBody> & { error?: string },
      }
    }),
  )
}

/** 100 refreshes of one token at once: one child for all, no second branch. */
async function oneChildForAll(h: Harness, db: Kysely<Database>) {
  const { token } = await tokenUser(h)
  const results = await stampede(h, token.refreshToken, 100)
  const children = new Set(results.flatMap((r) => (r.status === 200 ? [r.body.refresh_token] : [])))
  // Inside the grace window every caller gets the same child: no second branch.
  assert.equal(children.size, 1)
  for (const r of results) {
    assert.ok(r.status === 200 || r.body.error === 'refresh_token_reused', JSON.stringify(r))
  }
  const [child] = [...children] as [string]
  const parent = await h.store.getRefreshToken(token.refreshToken.split('.')[0]!)
  assert.equal(parent?.childId, child.split('.')[0])
  const rows = await db
    .selectFrom('refresh_tokens')
    .select('id')
    .where('family_id', '=', token.loginId)
    .execute()
  assert.equal(rows.length, 2) // the spent parent and its one child
  // The child is live and rotates once more.
  const next = await refreshed(h, child)
  assert.deepEqual(await probe(h, next.access_token), [200, undefined])
  assert.equal(h.errors.length, 0)
}

describe('concurrent refreshes on SQLite', () => {
  it('100 concurrent refreshes of one token leave exactly one live child', async () => {
    const h = await sqliteHarness('stampede')
    try {
      await oneChildForAll(h, (h.store as SqliteStore).db)
    } finally {
      await h.latchkey.close()
    }
  })

  it('100 concurrent replays outside the grace window all fail and kill the family', async () => {
    const h = await sqliteHarness('replay')
    try {
      const { token } = await tokenUser(h)
      const child = await refreshed(h, token.refreshToken)
      h.clock.advance(10 * SECOND)
      const results = await stampede(h, token.refreshToken, 100)
      for (const r of results) {
        assert.equal(r.status, 401)
        assert.ok(['refresh_token_reused', 'invalid_refresh_token'].includes(r.body.error ?? ''))
      }
      assert.deepEqual(await outcome(await refresh(h, child.refresh_token!)), [
        401,
        'invalid_refresh_token',
      ])
      assert.equal(h.errors.length, 0)
    } finally {
      await h.latchkey.close()
    }
  })
})

// Postgres rotates in one statement, its losers then read the family: the same outcome.
const unreachable = await postgresUnreachable()
if (serviceAvailable('postgres', unreachable)) {
  describe('concurrent refreshes on Postgres', () => {
    it('100 concurrent refreshes of one token leave exactly one live child', async () => {
      const schema = await freshSchema('refresh_race')
      const store = await openPostgresStore({ connectionString: schema.url, max: 10 })
      const h = harness({ store })
      try {
        await oneChildForAll(h, store.db)
      } finally {
        await h.latchkey.close()
        await schema.drop()
      }
    })
  })
}
