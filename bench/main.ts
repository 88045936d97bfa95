// `npm run bench`: every benchmark in one run, JWT verification first.
import { runAuthenticateBench } from './authenticate.js'
import { runAdapterBench } from './http-adapter.js'
import { runJwtBench } from './jwt.js'
import { runProtectedBench } from './protected.js'
import { runRefreshBench } from './refresh.js'
import { runRevocationLagBench } from './revocation-lag.js'

await runJwtBench()
await runAdapterBench()
await runRefreshBench()
await runAuthenticateBench()
await runProtectedBench()
await runRevocationLagBench()
