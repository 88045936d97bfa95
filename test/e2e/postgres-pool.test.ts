import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { serviceAvailable } from '../services/gate.js'
import { freshSchema, postgresUnreachable, withPostgres } from '../services/postgres.js'
import { freePort, startCli, tempDataDir, type ServerProcess } from './process.js'

const POOL_SIZE = 2

if (serviceAvailable('Postgres', await postgresUnreachable())) {
  describe('a node on Postgres, LATCHKEY_PG_POOL_SIZE', () => {
    let node: ServerProcess
    let drop: () => Promise<void>
    // The URL names the connections, so that only this node's are counted.
    const name = `latchkey-test-${randomBytes(4).toString('hex')}`

    before(async () => {
      const schema = await freshSchema('pool')
      drop = () => schema.drop()
      const url = new URL(schema.url)
      url.searchParams.set('application_name', name)
      const port = await freePort()
      node = await startCli({
        PORT: String(port),
        DATABASE_URL: url.toString(),
        LATCHKEY_PG_POOL_SIZE: String(POOL_SIZE),
        LATCHKEY_SECRET: randomBytes(32).toString('base64url'),
        LATCHKEY_DATA_DIR: await tempDataDir(),
      })
    })
    after(async () => {
      await node.stop()
      await drop()
    })

    it('opens no more connections than it is given, under many concurrent requests', async () => {
      // Each sample: the connections of this node, by pid. Without Redis the revocation
      // bus holds connections of its own (a LISTEN and its publishes): those pids are told
      // apart afterwards by what they ran, as a connection is opened to run a statement.
      const samples: number[][] = []
      const bus = new Set<number>()
      let sampling = true
      const sampler = (async () => {
        while (sampling) {
          const { rows } = await withPostgres((client) =>
            client.query<{ pid: number; query: string }>(
              'select pid, query from pg_stat_activity where application_name = $1',
              [name],
            ),
          )
          for (const { pid, query } of rows)
            if (/^(listen|select pg_notify)/i.test(query)) bus.add(pid)
          samples.push(rows.map(({ pid }) => pid))
        }
      })()
      // A well-formed refresh token that was never issued: two statements, then 401.
      const unknown = () =>
        `${randomBytes(16).toString('base64url')}.${randomBytes(32).toString('base64url')}`
      try {
        for (let round = 0; round < 5; round++) {
          const statuses = await Promise.all(
            Array.from({ length: 100 }, async () => {
              const response = await fetch(`${node.url}/auth/refresh`, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ refresh_token: unknown() }),
              })
              await response.arrayBuffer()
              return response.status
            }),
          )
          assert.deepEqual(new Set(statuses), new Set([401]))
        }
      } finally {
        sampling = false
        await sampler
      }
      const most = Math.max(...samples.map((pids) => pids.filter((pid) => !bus.has(pid)).length))
      // Under that load the store's pool grows to its size, and no further.
      assert.equal(most, POOL_SIZE)
      assert.ok(bus.size > 0, 'the bus connections were seen, so they were left out')
    })
  })
}
