import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { describe, it } from 'node:test'
import { credentialRequest, readIncoming } from './guard-node.js'
import { createNodeServer, credentialsOf } from './node-http.js'

/** Sends `head` (request line and header lines) over a raw socket; resolves to what the server saw. */
async function received(head: string[]): Promise<IncomingMessage> {
  let seen: IncomingMessage | undefined
  const server = createServer((request, response) => {
    seen = request
    response.end()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1')
  socket.end(`${head.join('\r\n')}\r\n\r\n`)
  socket.resume()
  await once(socket, 'close')
  server.close()
  assert.ok(seen)
  return seen
}

const NAMES = ['authorization', 'Authorization', 'cookie', 'COOKIE', 'origin', 'x-csrf-token']

describe('credentialsOf (node:http)', () => {
  const cases: Record<string, string[]> = {
    'one of each': [
      'POST /x HTTP/1.1',
      'Host: a',
      'Authorization: Bearer abc.def.ghi',
      'Cookie: a=1; __Host-latchkey=x.y',
      'Origin: https://app.example.com',
      'X-CSRF-Token: t',
    ],
    'repeated headers, mixed case': [
      'GET /x HTTP/1.1',
      'Host: a',
      'authorization: Bearer first',
      'AUTHORIZATION: Bearer second',
      'cookie: a=1',
      'Cookie: b=2',
      'COOKIE: __Host-latchkey=x.y',
    ],
    'names in neither lower nor usual case': [
      'GET /x HTTP/1.1',
      'Host: a',
      'aUtHoRiZaTiOn: Bearer odd',
      'cOOKIE: __Host-latchkey=x.y',
    ],
    'none of them': ['GET /x HTTP/1.1', 'Host: a'],
    'empty values': ['GET /x HTTP/1.1', 'Host: a', 'Authorization:', 'Cookie: '],
  }
  for (const [name, head] of Object.entries(cases)) {
    it(`reads what incoming.headers holds: ${name}`, async () => {
      const request = await received(head)
      const raw = credentialsOf(request)
      const parsed = credentialRequest(request.method ?? 'GET', request.headers)
      assert.equal(raw.method, request.method)
      for (const header of NAMES) {
        assert.equal(raw.headers.get(header), parsed.headers.get(header), header)
      }
    })
  }
})

describe("createNodeServer's body reader", () => {
  /** A server whose handler reads the body through `connection.readBody(limit)`. */
  async function bodyServer(limit: number) {
    const seen: { method: string; outcome: string }[] = []
    const server = createNodeServer(async (request, connection) => {
      if (connection?.readBody === undefined) {
        seen.push({ method: request.method, outcome: 'no reader' })
        return new Response('none')
      }
      const outcome = await connection.readBody(limit).then(
        (bytes) => (bytes === null ? 'over the limit' : `read ${Buffer.from(bytes).toString()}`),
        (error: unknown) => `failed: ${(error as Error).message}`,
      )
      seen.push({ method: request.method, outcome })
      return new Response(outcome, { status: outcome.startsWith('read') ? 200 : 400 })
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as AddressInfo).port
    return {
      seen,
      url: `http://127.0.0.1:${port}/x`,
      port,
      close: () => {
        server.closeAllConnections()
        server.close()
      },
    }
  }

  it('reads the bytes of a body, whole, whatever its chunks', async () => {
    const s = await bodyServer(64)
    try {
      const sent = await fetch(s.url, { method: 'POST', body: '{"refresh_token":"a.b"}' })
      assert.equal(await sent.text(), 'read {"refresh_token":"a.b"}')
      const parts = ['{"a"', ':', '1}']
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          const part = parts.shift()
          if (part === undefined) controller.close()
          else controller.enqueue(new TextEncoder().encode(part))
        },
      })
      const chunked = await fetch(s.url, {
        method: 'PUT',
        body: stream,
        duplex: 'half',
      } as RequestInit)
      assert.equal(await chunked.text(), 'read {"a":1}')
      const empty = await fetch(s.url, { method: 'DELETE' })
      assert.equal(await empty.text(), 'read ')
    } finally {
      s.close()
    }
  })

  it('offers no reader for GET and HEAD', async () => {
    const s = await bodyServer(64)
    try {
      await (await fetch(s.url)).text()
      await fetch(s.url, { method: 'HEAD' })
      assert.deepEqual(s.seen, [
        { method: 'GET', outcome: 'no reader' },
        { method: 'HEAD', outcome: 'no reader' },
      ])
    } finally {
      s.close()
    }
  })

  it('rejects when the client goes away before the body ends', async () => {
    const s = await bodyServer(1024)
    try {
      const socket = connect(s.port, '127.0.0.1')
      socket.on('error', () => {})
      socket.write('POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{"partial":')
      await new Promise((resolve) => setTimeout(resolve, 30))
      socket.destroy()
      for (let i = 0; i < 100 && s.seen.length === 0; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      assert.equal(s.seen.length, 1)
      assert.match(s.seen[0]!.outcome, /^failed: /)
    } finally {
      s.close()
    }
  })
})

// What Express and Fastify get: `readIncoming` on node's own server, which drains nothing
// for them once the answer is sent.
describe('readIncoming on a plain node:http server', () => {
  async function plainServer(limit: number) {
    const server = createServer((request, response) => {
      readIncoming(request, limit).then(
        (bytes) =>
          response.end(bytes === null ? 'over the limit' : `read ${Buffer.from(bytes).toString()}`),
        () => response.end('failed'),
      )
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    return {
      port: (server.address() as AddressInfo).port,
      close: () => {
        server.closeAllConnections()
        server.close()
      },
    }
  }

  /** Writes `requests` on one socket; the answers it got before `ms`, and whether it closed. */
  async function onOneSocket(port: number, requests: string[], ms: number) {
    const socket = connect(port, '127.0.0.1')
    socket.on('error', () => {})
    let text = ''
    let closed = false
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')))
    socket.on('close', () => (closed = true))
    for (const request of requests) socket.write(request)
    for (let waited = 0; waited < ms && !closed; waited += 10) {
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    socket.destroy()
    return { answers: text.match(/\r\n\r\n[^H]*/g)?.map((part) => part.slice(4)) ?? [], closed }
  }
  const post = (body: string) =>
    `POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n${body}`

  it('stops at the limit, and the same connection carries the next request', async () => {
    const s = await plainServer(16)
    try {
      const { answers } = await onOneSocket(s.port, [post('x'.repeat(200_000)), post('ok')], 2000)
      assert.deepEqual(answers, ['over the limit', 'read ok'])
    } finally {
      s.close()
    }
  })

  it('closes the connection when far more than the limit is sent', async () => {
    const s = await plainServer(16)
    try {
      const { answers, closed } = await onOneSocket(s.port, [post('x'.repeat(3 << 20))], 5000)
      assert.deepEqual(answers, ['over the limit'])
      assert.equal(closed, true)
    } finally {
      s.close()
    }
  })
})
