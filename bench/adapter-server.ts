// One HTTP server per process, so that the load generator (the parent) never shares an
// event loop with it. Usage: adapter-server.ts <variant> ; prints the port when ready.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createNodeServer } from '../src/adapters/node-http.js'
import type { ApiRequest } from '../src/http/handler.js'
import type { Reply } from '../src/http/responses.js'

const body = JSON.stringify({ user: { id: 'u1', email: 'a@example.com' }, session: { id: 's1' } })
const headers = { 'content-type': 'application/json', 'cache-control': 'no-store' }

function fetchHandler(request: Request): Promise<Response> {
  // Touch what a real route touches: the cookie header and the path.
  void request.headers.get('cookie')
  void new URL(request.url).pathname
  return Promise.resolve(new Response(body, { status: 200, headers }))
}

/** The same answer as Latchkey's handler gives it to the node:http listener. */
function replyHandler(request: ApiRequest, pathname: string): Promise<Reply> {
  void request.headers.get('cookie')
  void pathname
  return Promise.resolve({ status: 200, body, headers: { ...headers }, cookies: [] })
}

const variants: Record<string, () => ReturnType<typeof createServer>> = {
  'node:http (plain)': () =>
    createServer((req, res) => {
      void req.headers.cookie
      res.writeHead(200, headers)
      res.end(body)
    }),
  "Latchkey's handler (replies written directly)": () =>
    createNodeServer(
      Object.assign((request: Request) => fetchHandler(request), { reply: replyHandler }),
    ),
  'a web handler (@hono/node-server)': () => createNodeServer((request) => fetchHandler(request)),
  'a web handler, no global override': () =>
    createNodeServer((request) => fetchHandler(request), { overrideGlobalObjects: false }),
  'naive Request/Response copy': () =>
    createServer((req, res) => {
      void (async () => {
        const requestHeaders = new Headers()
        for (const [name, value] of Object.entries(req.headers)) {
          if (typeof value === 'string') requestHeaders.set(name, value)
        }
        const response = await fetchHandler(
          new Request(`http://localhost${req.url ?? '/'}`, { headers: requestHeaders }),
        )
        res.writeHead(response.status, Object.fromEntries(response.headers))
        res.end(Buffer.from(await response.arrayBuffer()))
      })()
    }),
}

const make = variants[process.argv[2] ?? '']
if (make === undefined)
  throw new Error(`unknown variant; one of: ${Object.keys(variants).join(', ')}`)
const server = make()
server.listen(0, '127.0.0.1', () => {
  console.log(String((server.address() as AddressInfo).port))
})
