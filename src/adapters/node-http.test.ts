import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { describe, it } from 'node:test'
import { credentialRequest } from './guard-node.js'
import { credentialsOf } from './node-http.js'

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
