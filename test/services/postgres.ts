import { randomBytes } from 'node:crypto'
import pg from 'pg'

/** The Postgres the tests use: TEST_POSTGRES_URL, or the local service. */
export const postgresUrl =
  process.env['TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'

const runId = randomBytes(6).toString('hex')

/** Runs `run` on a short-lived admin connection. */
export async function withPostgres<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 3_000 })
  client.on('error', () => {})
  await client.connect()
  try {
    return await run(client)
  } finally {
    await client.end()
  }
}

/** Why Postgres cannot be used, or `undefined` when it answers. */
export async function postgresUnreachable(): Promise<string | undefined> {
  try {
    await withPostgres((client) => client.query('select 1'))
    return undefined
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
}

/** The URL of `base` with its search_path set to `schema`. */
export function urlWithSchema(schema: string, base = postgresUrl): string {
  const url = new URL(base)
  url.searchParams.set('options', `-c search_path=${schema}`)
  return url.toString()
}

/**
 * A schema of this run's own (parallel runs never collide), and a URL that uses it;
 * `drop()` removes it with everything in it.
 */
export async function freshSchema(
  label: string,
): Promise<{ schema: string; url: string; drop(): Promise<void> }> {
  const schema = `latchkey_test_${runId}_${label}_${randomBytes(3).toString('hex')}`
  await withPostgres((client) => client.query(`create schema "${schema}"`))
  return {
    schema,
    url: urlWithSchema(schema),
    drop: () =>
      withPostgres((client) => client.query(`drop schema if exists "${schema}" cascade`)).then(
        () => undefined,
      ),
  }
}
