import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { Kysely, PostgresDialect, sql } from 'kysely'
import pg from 'pg'
import { StoreUnavailableError } from '../../errors.js'
import { storeConformanceSuite } from '../conformance.js'
import { aLogin, aUser, HOUR, T0 } from '../fixtures.js'
import { appliedMigrations, migrations } from './migrations.js'
import type { Store } from '../contract.js'
import type { Database } from './schema.js'
import { sqlStore } from './sql-store.js'
import { isPostgresUnavailable, migratePostgres, openPostgresStore } from './postgres.js'
import { serviceAvailable } from '../../../test/services/gate.js'
import { tcpProxy } from '../../../test/services/proxy.js'
import {
  postgresUnreachable,
  urlWithSchema as urlFor,
  withPostgres as withAdmin,
} from '../../../test/services/postgres.js'

// Every run works in schemas of its own, dropped at the end, so parallel runs (and other
// users of the database) never collide.
const runId = randomBytes(6).toString('hex')
const schemas: string[] = []

function freshSchema(label: string): string {
  const schema = `latchkey_test_${runId}_${label}`
  schemas.push(schema)
  return schema
}

async function createSchema(schema: string): Promise<void> {
  await withAdmin((client) => client.query(`create schema "${schema}"`))
}

/** A store over a fresh schema, reached through a proxy that can cut the network. */
async function storeBehindProxy(label: string) {
  const schema = freshSchema(label)
  await createSchema(schema)
  const target = new URL(urlFor(schema))
  const proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
  target.host = `${proxy.host}:${proxy.port}`
  const store = await openPostgresStore({ connectionString: target.toString(), max: 2 })
  return { store, proxy }
}

/**
 * A user with a token login and its first refresh token, `parent`; `rotation` rotates a
 * token created at `now - 1` (as `parent` at T0, or a child of an earlier `rotation`).
 */
async function tokenFamily(store: Store) {
  const user = aUser()
  const login = aLogin(user.id, { kind: 'token', secretHash: null })
  await store.createUser(user)
  await store.createLogin(login)
  const secretHash = (createdAt: number) => new Uint8Array(32).fill(createdAt % 256)
  await store.createRefreshToken({
    id: 'parent',
    familyId: login.id,
    userId: user.id,
    secretHash: secretHash(T0),
    createdAt: T0,
    spentAt: null,
    childId: null,
  })
  const rotation = (parent: string, child: string, now: number) => ({
    parentId: parent,
    secretHash: secretHash(now - 1),
    child: { id: child, secretHash: secretHash(now) },
    now,
    idleMs: HOUR,
    renewIfSeenBefore: now,
  })
  return { login, rotation }
}

if (serviceAvailable('Postgres store', await postgresUnreachable())) {
  after(async () => {
    await withAdmin(async (client) => {
      for (const schema of schemas) await client.query(`drop schema if exists "${schema}" cascade`)
    })
  })

  storeConformanceSuite('postgres', async () => {
    const schema = freshSchema('conformance')
    await createSchema(schema)
    const store = await openPostgresStore({ connectionString: urlFor(schema), max: 20 })
    return { store, close: () => store.close() }
  })

  describe('postgres store', () => {
    let migrationSchema: string
    before(async () => {
      migrationSchema = freshSchema('migrate')
      await createSchema(migrationSchema)
    })

    it('applies every migration once: migrating again applies nothing', async () => {
      const url = urlFor(migrationSchema)
      assert.deepEqual(await migratePostgres(url), Object.keys(migrations))
      assert.deepEqual(await migratePostgres(url), [])
    })

    it('finds the revocation facts since a moment by index, not by a scan', async () => {
      const schema = freshSchema('plans')
      await createSchema(schema)
      const store = await openPostgresStore({ connectionString: urlFor(schema), max: 1 })
      try {
        for (const [table, column, index] of [
          ['logins', 'revoked_at', 'logins_revoked_at_idx'],
          ['users', 'updated_at', 'users_updated_at_idx'],
        ] as const) {
          // An empty table is cheaper to scan: ask whether the index can serve at all.
          const plan = await store.db.transaction().execute(async (trx) => {
            await sql`set local enable_seqscan = off`.execute(trx)
            return sql<{ 'QUERY PLAN': string }>`explain select id from ${sql.table(
              table,
            )} where ${sql.ref(column)} >= ${0}`.execute(trx)
          })
          const text = plan.rows.map((row) => row['QUERY PLAN']).join('\n')
          assert.match(text, new RegExp(`Index.* on ${index}|using ${index}`), text)
        }
      } finally {
        await store.close()
      }
    })

    it('names its connections latchkey in pg_stat_activity, unless the URL names them', async () => {
      const schema = freshSchema('application_name')
      await createSchema(schema)
      const named = new URL(urlFor(schema))
      named.searchParams.set('application_name', 'billing-auth')
      for (const [url, expected] of [
        [urlFor(schema), 'latchkey'],
        [named.toString(), 'billing-auth'],
      ] as const) {
        const store = await openPostgresStore({ connectionString: url, max: 1 })
        try {
          const { rows } = await sql<{ name: string }>`
            select application_name as name from pg_stat_activity where pid = pg_backend_pid()`.execute(
            store.db,
          )
          assert.equal(rows[0]?.name, expected)
        } finally {
          await store.close()
        }
      }
    })

    it("prepares a refresh's two statements once per connection, and still runs them after a migration adds a column", async () => {
      for (const preparedStatements of [true, false]) {
        const schema = freshSchema(`prepared_${String(preparedStatements)}`)
        await createSchema(schema)
        // One connection: the prepared statements below are that connection's.
        const store = await openPostgresStore({
          connectionString: urlFor(schema),
          max: 1,
          preparedStatements,
        })
        try {
          const { rotation } = await tokenFamily(store)
          assert.ok(await store.rotateRefreshToken(rotation('parent', 'child', T0 + 1)))
          const read = async () => (await store.getRefreshTokenWithFamily('child'))?.token.id
          assert.equal(await read(), 'child')

          const { rows } = await sql<{ name: string; statement: string }>`
            select name, statement from pg_prepared_statements order by name`.execute(store.db)
          if (preparedStatements) {
            assert.deepEqual(
              rows.map((row) => row.name),
              ['latchkey_1', 'latchkey_2'],
            )
            assert.match(rows[0]!.statement, /^select .* from "refresh_tokens" left join "logins"/)
            assert.match(
              rows[1]!.statement,
              /with parent as \(\s*select t\.id, l\.last_seen_at < \$7 as renewal_due,/,
            )
          } else {
            assert.deepEqual(rows, [])
          }

          // A later release's migration, applied while this node keeps running.
          await sql`alter table refresh_tokens add column later text`.execute(store.db)
          assert.equal(await read(), 'child')
          assert.ok(await store.rotateRefreshToken(rotation('child', 'grandchild', T0 + 2)))
        } finally {
          await store.close()
        }
      }
    })

    it('migrates an empty schema exactly once when five nodes start together', async () => {
      const schema = freshSchema('concurrent')
      await createSchema(schema)
      const url = urlFor(schema)
      const stores = await Promise.all(
        Array.from({ length: 5 }, () => openPostgresStore({ connectionString: url, max: 2 })),
      )
      try {
        assert.deepEqual(await appliedMigrations(stores[0]!.db), Object.keys(migrations))
        // Every node can use the shared schema at once.
        const hits = await Promise.all(
          stores.map((store) => store.hitRateLimit('start', 60_000, 1_000)),
        )
        assert.deepEqual(hits.map((hit) => hit.count).sort(), [1, 2, 3, 4, 5])
      } finally {
        await Promise.all(stores.map((store) => store.close()))
      }
    })

    it('applies each migration once across five concurrent `latchkey migrate` runs', async () => {
      const schema = freshSchema('concurrentcli')
      await createSchema(schema)
      const url = urlFor(schema)
      const applied = await Promise.all(Array.from({ length: 5 }, () => migratePostgres(url)))
      assert.deepEqual(applied.flat().sort(), Object.keys(migrations))
    })

    it('survives the network going away under a query in flight, and recovers', async () => {
      const { store, proxy } = await storeBehindProxy('cut')
      try {
        // Without a listener on the checked-out client, its 'error' would end the process.
        const inFlight = sql`select pg_sleep(5)`.execute(store.db)
        await new Promise((resolve) => setTimeout(resolve, 100))
        proxy.cut()
        await assert.rejects(inFlight, /terminated|closed|ECONNRESET/i)
        await assert.rejects(store.getUserById('nobody'), StoreUnavailableError)
        proxy.restore()
        assert.equal(await store.getUserById('nobody'), null)
      } finally {
        await store.close()
        await proxy.close()
      }
    })

    it('a rotation (run on the pool past Kysely) reports a lost network as unavailable, and rotates once it is back', async () => {
      const { store, proxy } = await storeBehindProxy('cut_rotation')
      try {
        const family = await tokenFamily(store)
        const rotation = family.rotation('parent', 'child', T0 + 1)
        proxy.cut()
        await assert.rejects(store.rotateRefreshToken(rotation), StoreUnavailableError)
        proxy.restore()
        // Nothing was written: the same parent rotates now.
        const rotated = await store.rotateRefreshToken(rotation)
        assert.equal(rotated?.login?.id, family.login.id)
        assert.equal((await store.getRefreshToken('child'))?.familyId, family.login.id)
      } finally {
        await store.close()
        await proxy.close()
      }
    })

    it('reports a missing table as a bug, not as unavailability', async () => {
      const schema = freshSchema('broken')
      await createSchema(schema)
      const store = await openPostgresStore({ connectionString: urlFor(schema), max: 1 })
      try {
        await store.db.schema.dropTable('rate_limits').execute()
        await assert.rejects(store.hitRateLimit('k', 1, 1), (error) => {
          assert.ok(!(error instanceof StoreUnavailableError))
          assert.equal((error as { code?: unknown }).code, '42P01')
          return true
        })
      } finally {
        await store.close()
      }
    })

    it('reports a refused connection as unavailable, keeping the cause', async () => {
      // Nothing listens on port 1; migration is skipped to reach a query.
      const pool = new pg.Pool({ connectionString: 'postgres://postgres@127.0.0.1:1/test' })
      const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
      const store = sqlStore(db, { isUnavailable: isPostgresUnavailable })
      try {
        await assert.rejects(store.hitRateLimit('k', 1, 1), (error) => {
          assert.ok(error instanceof StoreUnavailableError)
          assert.equal(error.code, 'store_unavailable')
          assert.equal((error.cause as { code?: unknown }).code, 'ECONNREFUSED')
          return true
        })
      } finally {
        await store.close()
      }
    })

    it('classifies driver errors', () => {
      const withCode = (code: string): Error => Object.assign(new Error('x'), { code })
      for (const code of ['ECONNREFUSED', '57P01', '53300', '08006', '08001', '40P01']) {
        assert.equal(isPostgresUnavailable(withCode(code)), true, code)
      }
      for (const code of ['23505', '23503', '42P01', '22P02']) {
        assert.equal(isPostgresUnavailable(withCode(code)), false, code)
      }
      assert.equal(isPostgresUnavailable(new Error('Connection terminated unexpectedly')), true)
      assert.equal(isPostgresUnavailable(new TypeError('x is undefined')), false)
    })
  })
}
