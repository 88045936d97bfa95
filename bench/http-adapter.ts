import { load, machine, spawnServer, stop } from './load.js'

const VARIANTS = [
  'node:http (plain)',
  "Latchkey's handler (replies written directly)",
  'a web handler (@hono/node-server)',
  'a web handler, no global override',
  'naive Request/Response copy',
]

/**
 * What the node:http adapter costs: the same JSON answer served plainly, as Latchkey's
 * handler replies (written to node's response directly), as a `(Request) => Response`
 * function through @hono/node-server, and through a naive copy into a Request.
 */
export async function runAdapterBench(): Promise<void> {
  console.log('\n## HTTP adapter: one JSON response, 50 connections, autocannon in its own process')
  console.log(machine())
  const rows: { variant: string; rps: number; p99: number }[] = []
  for (const variant of VARIANTS) {
    const { port, child } = await spawnServer('adapter-server.ts', [variant])
    try {
      const result = await load(`http://127.0.0.1:${port}/auth/session`, {
        headers: { cookie: '__Host-latchkey-session=x' },
      })
      rows.push({ variant, rps: result.requestsPerSecond, p99: result.p99Ms })
    } finally {
      await stop(child)
    }
  }
  const plain = rows[0]!.rps
  console.log('| variant | req/s | ratio to plain node:http | p99 ms |')
  console.log('|---|---:|---:|---:|')
  for (const row of rows) {
    console.log(
      `| ${row.variant} | ${Math.round(row.rps)} | ${(row.rps / plain).toFixed(2)} | ${row.p99} |`,
    )
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runAdapterBench()
