// `npm run bench`: every benchmark in one run, JWT verification first. Names given as
// arguments run only those, in this order: `npm run bench -- protected revocation-lag`.
import { runAuthenticateBench } from './authenticate.js'
import { runAdapterBench } from './http-adapter.js'
import { runJwtBench } from './jwt.js'
import { runInstructionsBench, runProtectedBench } from './protected.js'
import { runRefreshBench } from './refresh.js'
import { runRevocationLagBench } from './revocation-lag.js'

const benches: [string, () => Promise<void>][] = [
  ['jwt', async () => void (await runJwtBench())],
  ['adapter', runAdapterBench],
  ['refresh', runRefreshBench],
  ['authenticate', runAuthenticateBench],
  ['protected', () => runProtectedBench()],
  ['instructions', runInstructionsBench],
  ['revocation-lag', runRevocationLagBench],
]
const chosen = process.argv.slice(2)
const unknown = chosen.filter((name) => !benches.some(([known]) => known === name))
if (unknown.length > 0) {
  console.error(
    `Unknown benchmark ${unknown.join(', ')}; known: ${benches.map(([name]) => name).join(', ')}`,
  )
  process.exit(2)
}
for (const [name, run] of benches) {
  if (chosen.length === 0 || chosen.includes(name)) await run()
}
