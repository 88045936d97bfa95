// `npm run bench`: every benchmark in one run, JWT verification first.
import { runAdapterBench } from './http-adapter.js'
import { runJwtBench } from './jwt.js'
import { runRefreshBench } from './refresh.js'

await runJwtBench()
await runAdapterBench()
await runRefreshBench()
