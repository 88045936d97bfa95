import assert from 'node:assert/strict'
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { BrowserSession, Harness, ErrorBody } from '../../test/harness.js'
import {
  authed,
  browserHeaders,
  harness,
  ISSUER,
  login,
  newUser,
  PASSWORD,
} from '../../test/harness.js'
import { createNodeServer } from '../adapters/node-http.js'
import type { WebHandler } from '../adapters/node-http.js'
import type { Handler } from './handler.js'
import { SESSION_COOKIE } from '../sessions/cookies.js'
import type { Store } from '../stores/contract.js'
import { memoryStore } from '../stores/memory.js'

const LIMIT = 16 * 1024
const EMAIL = 'resident@example.com'

/** Every store operation that writes. */
const WRITES = [
  'createUser',
  'updatePasswordHash',
  'changePassword',
  'bumpTokenVersion',
  'createLogin',
  'touchLogin',
  'revokeLogin',
  'revokeUserLogins',
  'hitRateLimit',
  'deleteExpired',
] as const

/** A memory store that records the name of every write it receives. */
function recordingStore(base: Store = memoryStore()): { store: Store; writes: string[] } {
  const writes: string[] = []
  const wrapped = Object.fromEntries(
    WRITES.map((name) => [
      name,
      (...args: unknown[]) => {
        writes.push(name)
        return (base[name] as (...params: unknown[]) => unknown)(...args)
      },
    ]),
  )
  const store: Store = { ...base, ...wrapped }
  return { store, writes }
}

interface Fixture {
  h: Harness
  writes: string[]
  session: BrowserSession
  other: BrowserSession
}

/** A registered user with a live session, and a second user; the write log starts empty. */
async function fixture(): Promise<Fixture> {
  const { store, writes } = recordingStore()
  const h = harness({ store })
  const { session } = await newUser(h, EMAIL)
  const { session: other } = await newUser(h, 'other@example.com')
  writes.length = 0
  return { h, writes, session, other }
}

const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
}

/** The refusal a client sees, and nothing written, and nothing logged. */
async function assertRefused(
  f: Fixture,
  response: Response,
  status: number,
  code: string,
): Promise<ErrorBody> {
  const text = await response.text()
  assert.equal(response.status, status, text)
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/)
  const body = JSON.parse(text) as ErrorBody
  assert.deepEqual(Object.keys(body).sort(), ['error', 'message'])
  assert.equal(body.error, code)
  assert.equal(typeof body.message, 'string')
  assert.ok(body.message.length > 0)
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
    assert.equal(response.headers.get(name), value, name)
  }
  if (status === 401) assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer /)
  assert.equal(response.headers.getSetCookie().length, 0, 'no cookie is set')
  assert.deepEqual(f.writes, [], 'nothing was written')
  assert.deepEqual(f.h.errors, [], 'nothing was logged as a failure')
  // The resident user and session are as they were.
  const user = await f.h.store.getUserByEmail(EMAIL)
  assert.equal(user?.tokenVersion, 0)
  const me = await f.h.send('/auth/session', { headers: { cookie: f.session.cookie } })
  assert.equal(me.status, 200)
  assert.deepEqual(f.writes, [])
  return body
}

/** A JSON text of `value` with an extra key spliced in (JSON.stringify cannot write `__proto__`). */
function withKey(value: object, key: string, json: string): string {
  const text = JSON.stringify(value)
  return `${text.slice(0, -1)},${JSON.stringify(key)}:${json}}`
}

/** A stream that yields `chunk` until cancelled; reports how much was pulled. */
function endlessStream(chunk: Uint8Array) {
  const state = { pulled: 0, cancelled: false }
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      state.pulled += chunk.byteLength
      controller.enqueue(chunk)
    },
    cancel() {
      state.cancelled = true
    },
  })
  return { stream, state }
}

/** A stream of exactly these bytes in small chunks, with no Content-Length. */
function chunked(bytes: Uint8Array, size = 1024): ReadableStream<Uint8Array> {
  let offset = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close()
      controller.enqueue(bytes.subarray(offset, offset + size))
      offset += size
    },
  })
}

interface BodyRoute {
  path: string
  /** A body that would succeed and write. */
  valid: Record<string, string>
  headers: (f: Fixture) => Record<string, string>
  /** An empty body means `{}` here. */
  optionalBody?: boolean
}

/** The JSON-body routes. */
const bodyRoutes: BodyRoute[] = [
  {
    path: '/auth/signup',
    valid: { email: 'newcomer@example.com', password: PASSWORD },
    headers: (_f: Fixture) => browserHeaders(),
  },
  {
    path: '/auth/login',
    valid: { email: EMAIL, password: PASSWORD, mode: 'session' },
    headers: (_f: Fixture) => browserHeaders(),
  },
  {
    path: '/auth/password',
    valid: { currentPassword: PASSWORD, newPassword: 'a fresh new passphrase' },
    headers: (f: Fixture) => authed(f.session),
  },
  {
    path: '/auth/logout',
    valid: { scope: 'global' },
    headers: (f: Fixture) => authed(f.session),
    // Logout's body is optional: an empty one means `{}` (scope local).
    optionalBody: true,
  },
]

interface BodyCase {
  name: string
  status: number
  code: string
  body: (route: BodyRoute) => BodyInit | null
  headers?: (route: BodyRoute) => Record<string, string>
  /** Removes these headers from the route's usual ones. */
  drop?: string[]
  /** Not bad input where the body is optional. */
  unlessOptional?: boolean
}

const utf8 = (text: string) => new TextEncoder().encode(text)
const tooBig = (route: BodyRoute) =>
  withKey(route.valid, 'padding', JSON.stringify('x'.repeat(LIMIT)))
const tenMegabytePassword = (route: BodyRoute) =>
  JSON.stringify({ ...route.valid, password: 'p'.repeat(10 * 1024 * 1024) })

const bodyCases: BodyCase[] = [
  { name: 'malformed JSON', status: 400, code: 'invalid_request', body: () => '{"email": ' },
  {
    name: 'JSON with a trailing comma',
    status: 400,
    code: 'invalid_request',
    body: () => '{"a":1,}',
  },
  {
    name: 'two JSON documents',
    status: 400,
    code: 'invalid_request',
    body: (r) => `${JSON.stringify(r.valid)}{}`,
  },
  {
    name: 'an empty body',
    status: 400,
    code: 'invalid_request',
    body: () => null,
    unlessOptional: true,
  },
  {
    name: 'a JSON array',
    status: 400,
    code: 'invalid_request',
    body: (r) => JSON.stringify([r.valid]),
  },
  { name: 'a JSON string', status: 400, code: 'invalid_request', body: () => '"hello"' },
  { name: 'a JSON number', status: 400, code: 'invalid_request', body: () => '42' },
  { name: 'JSON null', status: 400, code: 'invalid_request', body: () => 'null' },
  { name: 'JSON true', status: 400, code: 'invalid_request', body: () => 'true' },
  {
    name: 'a text/plain content type',
    status: 415,
    code: 'unsupported_media_type',
    body: (r) => JSON.stringify(r.valid),
    headers: () => ({ 'content-type': 'text/plain' }),
  },
  {
    name: 'a form content type',
    status: 415,
    code: 'unsupported_media_type',
    body: (r) => new URLSearchParams(r.valid).toString(),
    headers: () => ({ 'content-type': 'application/x-www-form-urlencoded' }),
  },
  ...[
    'application/json; charset=latin1',
    'application/json; charset=utf-16',
    'application/json; foo=bar',
    'application/json, text/plain',
    'application/jsonx',
    'text/json',
    'application/vnd.api+json',
  ].map((type): BodyCase => ({
    name: `the content type ${type}`,
    status: 415,
    code: 'unsupported_media_type',
    body: (r) => JSON.stringify(r.valid),
    headers: () => ({ 'content-type': type }),
  })),
  {
    name: 'no content type',
    status: 415,
    code: 'unsupported_media_type',
    body: (r) => utf8(JSON.stringify(r.valid)),
    drop: ['content-type'],
  },
  {
    name: 'invalid UTF-8 bytes',
    status: 400,
    code: 'invalid_request',
    body: (r) => {
      const text = utf8(JSON.stringify({ ...r.valid, note: 'XX' }))
      const at = text.lastIndexOf(0x58)
      text[at - 1] = 0xc3
      text[at] = 0x28
      return text
    },
  },
  {
    name: 'an overlong UTF-8 encoding of a quote',
    status: 400,
    code: 'invalid_request',
    body: () => new Uint8Array([0x7b, 0x22, 0x61, 0xc0, 0xa2, 0x3a, 0x31, 0x7d]),
  },
  {
    name: 'a UTF-16 encoded body',
    status: 400,
    code: 'invalid_request',
    body: (r) => Buffer.from(JSON.stringify(r.valid), 'utf16le'),
  },
  {
    name: 'a body over 16 KiB with its Content-Length',
    status: 413,
    code: 'payload_too_large',
    body: tooBig,
    headers: (r) => ({ 'content-length': String(utf8(tooBig(r)).byteLength) }),
  },
  {
    name: 'a body over 16 KiB that lies about its Content-Length',
    status: 413,
    code: 'payload_too_large',
    body: tooBig,
    headers: () => ({ 'content-length': '100' }),
  },
  {
    name: 'a body over 16 KiB streamed without Content-Length',
    status: 413,
    code: 'payload_too_large',
    body: (r) => chunked(utf8(tooBig(r))),
  },
  {
    name: 'a 10 MB password with its Content-Length',
    status: 413,
    code: 'payload_too_large',
    body: tenMegabytePassword,
    headers: (r) => ({ 'content-length': String(utf8(tenMegabytePassword(r)).byteLength) }),
  },
  {
    name: 'a 10 MB password streamed without Content-Length',
    status: 413,
    code: 'payload_too_large',
    body: (r) => chunked(utf8(tenMegabytePassword(r)), 64 * 1024),
  },
  {
    name: 'a declared Content-Length of 20 digits',
    status: 413,
    code: 'payload_too_large',
    body: (r) => JSON.stringify(r.valid),
    headers: () => ({ 'content-length': '99999999999999999999' }),
  },
  ...['abc', '-1', '1e3', '0x10', '12.0', '+12'].map((length): BodyCase => ({
    name: `a Content-Length of ${JSON.stringify(length)}`,
    status: 400,
    code: 'invalid_request',
    body: (r) => JSON.stringify(r.valid),
    headers: () => ({ 'content-length': length }),
  })),
  {
    name: 'an extra __proto__ key',
    status: 400,
    code: 'invalid_request',
    body: (r) => withKey(r.valid, '__proto__', '{"remember":true,"isAdmin":true,"scope":"local"}'),
  },
  {
    name: 'a nested __proto__ key',
    status: 400,
    code: 'invalid_request',
    body: (r) => withKey(r.valid, 'extra', '{"__proto__":{"polluted":true}}'),
  },
  {
    name: 'an extra constructor.prototype key',
    status: 400,
    code: 'invalid_request',
    body: (r) => withKey(r.valid, 'constructor', '{"prototype":{"polluted":true}}'),
  },
]

for (const route of bodyRoutes) {
  describe(`bad bodies on POST ${route.path}`, () => {
    for (const bad of bodyCases) {
      if (bad.unlessOptional === true && route.optionalBody === true) continue
      it(`${bad.name} → ${bad.status} ${bad.code}, nothing written`, async () => {
        const f = await fixture()
        const headers: Record<string, string> = {
          ...route.headers(f),
          ...bad.headers?.(route),
        }
        for (const name of bad.drop ?? []) delete headers[name]
        const body = bad.body(route)
        const response = await f.h.send(route.path, {
          method: 'POST',
          headers,
          body,
          ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
        })
        await assertRefused(f, response, bad.status, bad.code)
        assert.equal(({} as Record<string, unknown>)['polluted'], undefined)
        assert.equal(({} as Record<string, unknown>)['isAdmin'], undefined)
      })
    }
  })
}

describe('bodies at the edge', () => {
  it('a body of exactly 16 KiB is read', async () => {
    const f = await fixture()
    const text = JSON.stringify({ email: EMAIL, password: PASSWORD })
    const body = text + ' '.repeat(LIMIT - text.length)
    assert.equal(utf8(body).byteLength, LIMIT)
    const response = await f.h.send('/auth/login', {
      method: 'POST',
      headers: browserHeaders(),
      body,
    })
    assert.equal(response.status, 200)
  })

  // One decoder reads every body: a sequence cut off at the end of one must not reach the next.
  it('a body that ends inside a UTF-8 sequence is refused, and the next body reads clean', async () => {
    const f = await fixture()
    const valid = utf8(JSON.stringify({ email: EMAIL, password: PASSWORD }))
    const cut = Buffer.concat([valid, Buffer.from([0xe2, 0x82])])
    const refused = await f.h.send('/auth/login', {
      method: 'POST',
      headers: browserHeaders(),
      body: cut,
    })
    assert.equal(refused.status, 400)
    assert.equal(((await refused.json()) as { error: string }).error, 'invalid_request')
    const response = await f.h.send('/auth/login', {
      method: 'POST',
      headers: browserHeaders(),
      body: valid,
    })
    assert.equal(response.status, 200)
  })

  it('an endless streamed body is cut off after the limit, not read to the end', async () => {
    const f = await fixture()
    const { stream, state } = endlessStream(new Uint8Array(1024).fill(0x20))
    const response = await f.h.send('/auth/login', {
      method: 'POST',
      headers: browserHeaders(),
      body: stream,
      duplex: 'half',
    } as RequestInit)
    await assertRefused(f, response, 413, 'payload_too_large')
    assert.equal(state.cancelled, true, 'the stream was cancelled')
    assert.ok(state.pulled <= LIMIT + 4 * 1024, `${state.pulled} bytes pulled`)
  })

  it('a body stream that fails midway → 400 invalid_request', async () => {
    const f = await fixture()
    let sent = false
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) return controller.error(new Error('connection reset'))
        sent = true
        controller.enqueue(utf8('{"email":'))
      },
    })
    const response = await f.h.send('/auth/login', {
      method: 'POST',
      headers: browserHeaders(),
      body: stream,
      duplex: 'half',
    } as RequestInit)
    await assertRefused(f, response, 400, 'invalid_request')
  })
})

describe('missing and mistyped fields', () => {
  const cases: [string, string, Record<string, unknown>][] = [
    ['/auth/signup', 'an empty object', {}],
    ['/auth/signup', 'no password', { email: 'n@example.com' }],
    ['/auth/signup', 'no email', { password: PASSWORD }],
    ['/auth/signup', 'a numeric email', { email: 42, password: PASSWORD }],
    ['/auth/signup', 'an array password', { email: 'n@example.com', password: [PASSWORD] }],
    ['/auth/signup', 'an object email', { email: { $ne: null }, password: PASSWORD }],
    ['/auth/signup', 'a null password', { email: 'n@example.com', password: null }],
    ['/auth/signup', 'a boolean password', { email: 'n@example.com', password: true }],
    [
      '/auth/signup',
      'an email of 2000 characters',
      { email: `${'a'.repeat(1990)}@example.com`, password: PASSWORD },
    ],
    [
      '/auth/signup',
      'a password of 5000 characters',
      { email: 'n@example.com', password: 'p'.repeat(5000) },
    ],
    ['/auth/login', 'an empty object', {}],
    ['/auth/login', 'no password', { email: EMAIL }],
    ['/auth/login', 'a numeric email', { email: 1, password: PASSWORD }],
    [
      '/auth/login',
      'an object password (operator injection)',
      { email: EMAIL, password: { $gt: '' } },
    ],
    ['/auth/login', 'an array email', { email: [EMAIL], password: PASSWORD }],
    ['/auth/login', 'a null email', { email: null, password: PASSWORD }],
    [
      '/auth/login',
      'mode "Token" (modes are exact)',
      { email: EMAIL, password: PASSWORD, mode: 'Token' },
    ],
    ['/auth/login', 'an unknown mode', { email: EMAIL, password: PASSWORD, mode: 'admin' }],
    ['/auth/login', 'remember as a string', { email: EMAIL, password: PASSWORD, remember: 'yes' }],
    ['/auth/login', 'remember as a number', { email: EMAIL, password: PASSWORD, remember: 1 }],
    ['/auth/password', 'an empty object', {}],
    ['/auth/password', 'no newPassword', { currentPassword: PASSWORD }],
    [
      '/auth/password',
      'a numeric newPassword',
      { currentPassword: PASSWORD, newPassword: 12345678 },
    ],
    [
      '/auth/password',
      'an array currentPassword',
      { currentPassword: [PASSWORD], newPassword: 'x'.repeat(12) },
    ],
    ['/auth/password', 'an object newPassword', { currentPassword: PASSWORD, newPassword: {} }],
    ['/auth/logout', 'a numeric scope', { scope: 1 }],
    ['/auth/logout', 'an unknown scope', { scope: 'everyone' }],
    ['/auth/logout', 'a null scope', { scope: null }],
    ['/auth/logout', 'an array scope', { scope: ['global'] }],
  ]
  for (const [path, name, body] of cases) {
    it(`POST ${path} with ${name} → 400 invalid_request, nothing written`, async () => {
      const f = await fixture()
      const headers =
        path === '/auth/signup' || path === '/auth/login' ? browserHeaders() : authed(f.session)
      const response = await f.h.send(path, { method: 'POST', headers, body: JSON.stringify(body) })
      await assertRefused(f, response, 400, 'invalid_request')
    })
  }
})

describe('unknown routes and wrong methods', () => {
  for (const [method, path] of [
    ['GET', '/'],
    ['GET', '/nope'],
    ['GET', '/auth'],
    ['GET', '/auth/'],
    ['GET', '/auth/unknown'],
    ['GET', '/.env'],
    ['GET', '/auth/session/'],
    ['GET', '/auth/session/../../etc/passwd'],
    ['POST', '/auth/login/'],
    ['POST', '/auth//login'],
    ['POST', '/AUTH/LOGIN'],
    ['POST', '/auth/%6Cogin'],
    ['POST', '/auth/login%00'],
    ['POST', '/auth/login%2F'],
    ['POST', '/auth/login;jsessionid=x'],
    ['POST', '/auth%2Flogin'],
    ['POST', '/auth/login/..%2Fsignup'],
  ] as const) {
    it(`${method} ${path} → 404 not_found, nothing written`, async () => {
      const f = await fixture()
      const init: RequestInit =
        method === 'POST'
          ? {
              method,
              headers: browserHeaders(),
              body: JSON.stringify({ email: EMAIL, password: PASSWORD }),
            }
          : { headers: { cookie: f.session.cookie } }
      const response = await f.h.send(path, init)
      await assertRefused(f, response, 404, 'not_found')
    })
  }

  for (const [method, path, allow] of [
    ['GET', '/auth/login', 'POST'],
    ['PUT', '/auth/login', 'POST'],
    ['DELETE', '/auth/login', 'POST'],
    ['OPTIONS', '/auth/signup', 'POST'],
    ['PUT', '/auth/session', 'GET, HEAD'],
    ['POST', '/auth/session', 'GET, HEAD'],
    ['POST', '/auth/sessions', 'GET, HEAD'],
    ['PATCH', '/auth/sessions/abc', 'DELETE'],
    ['POST', '/healthz', 'GET, HEAD'],
    ['PROPFIND', '/auth/session', 'GET, HEAD'],
    ['HEAD', '/auth/login', 'POST'],
  ] as const) {
    it(`${method} ${path} → 405 method_not_allowed with Allow: ${allow}`, async () => {
      const f = await fixture()
      const response = await f.h.send(path, {
        method,
        headers: authed(f.session),
        ...(method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || method === 'PROPFIND'
          ? {}
          : { body: JSON.stringify({ email: EMAIL, password: PASSWORD }) }),
      })
      assert.equal(response.headers.get('allow'), allow)
      if (method === 'HEAD') {
        assert.equal(response.status, 405)
        assert.equal(response.body, null)
      } else {
        await assertRefused(f, response, 405, 'method_not_allowed')
      }
    })
  }

  for (const path of ['/healthz', '/auth/session', '/auth/sessions', '/.well-known/jwks.json']) {
    it(`HEAD ${path} answers as GET does, without the content`, async () => {
      const f = await fixture()
      const get = await f.h.send(path, { headers: { cookie: f.session.cookie } })
      const head = await f.h.send(path, { method: 'HEAD', headers: { cookie: f.session.cookie } })
      assert.equal(head.status, get.status)
      assert.equal(head.status, 200)
      assert.equal(head.body, null)
      for (const name of ['content-type', 'cache-control', 'x-content-type-options']) {
        assert.equal(head.headers.get(name), get.headers.get(name), name)
      }
    })
  }

  for (const [name, id] of [
    ['an empty id', ''],
    ['an unknown id', 'AAAAAAAAAAAAAAAAAAAAAA'],
    ['a dot-dot id', '%2e%2e'],
    ['an encoded slash', 'a%2Fb'],
    ['an id of 10000 characters', 'a'.repeat(10_000)],
    ['an SQL fragment', encodeURIComponent("' OR 1=1 --")],
  ] as const) {
    it(`DELETE /auth/sessions/ with ${name} → 404 not_found, nothing revoked`, async () => {
      const f = await fixture()
      const response = await f.h.send(`/auth/sessions/${id}`, {
        method: 'DELETE',
        headers: authed(f.session),
      })
      // Only the refused revocation may have been attempted; it must have changed nothing.
      f.writes.splice(0, f.writes.length, ...f.writes.filter((write) => write !== 'revokeLogin'))
      await assertRefused(f, response, 404, 'not_found')
    })
  }

  it("DELETE /auth/sessions/<another user's session> → 404 not_found, and it lives on", async () => {
    const f = await fixture()
    const response = await f.h.send(`/auth/sessions/${f.other.sessionId}`, {
      method: 'DELETE',
      headers: authed(f.session),
    })
    f.writes.splice(0, f.writes.length, ...f.writes.filter((write) => write !== 'revokeLogin'))
    await assertRefused(f, response, 404, 'not_found')
    const still = await f.h.send('/auth/session', { headers: { cookie: f.other.cookie } })
    assert.equal(still.status, 200)
  })
})

describe('odd cookies', () => {
  const token = (f: Fixture) => f.session.cookie.slice(f.session.cookie.indexOf('=') + 1)
  const cases: [string, (f: Fixture) => string][] = [
    ['a value of %%%', () => `${SESSION_COOKIE}=%%%`],
    ['an empty value', () => `${SESSION_COOKIE}=`],
    ['a name without a value', () => SESSION_COOKIE],
    ['a value of spaces and quotes', () => `${SESSION_COOKIE}="  "`],
    ['a Latin-1 value', () => `${SESSION_COOKIE}=\u00e9\u00e9`],
    ['a value with an encoded NUL', () => `${SESSION_COOKIE}=${'A'.repeat(22)}.%00`],
    ['a 4 KiB value', () => `${SESSION_COOKIE}=${'A'.repeat(4096)}`],
    [
      'many cookies and no session',
      () => Array.from({ length: 300 }, (_, i) => `c${i}=v${i}`).join('; '),
    ],
    [
      'the session among cookies past 8 KiB',
      (f) =>
        `${Array.from({ length: 900 }, (_, i) => `c${i}=v${i}`).join('; ')}; ${f.session.cookie}`,
    ],
    [
      'an oversized Cookie header (64 KiB)',
      (f) => `${f.session.cookie}; pad=${'x'.repeat(64 * 1024)}`,
    ],
    [
      'the cookie twice, valid then garbage',
      (f) => `${f.session.cookie}; ${SESSION_COOKIE}=garbage`,
    ],
    [
      'the cookie twice, garbage then valid',
      (f) => `${SESSION_COOKIE}=garbage; ${f.session.cookie}`,
    ],
    ['the cookie twice, two valid sessions', (f) => `${f.other.cookie}; ${f.session.cookie}`],
    ['the cookie twice with spacing tricks', (f) => `${SESSION_COOKIE} =x;\t${f.session.cookie}`],
    ['the name percent-encoded', (f) => `__Host%2Dlatchkey-session=${token(f)}`],
    ['the name without its prefix', (f) => `latchkey-session=${token(f)}`],
    ['the name in other case', (f) => `__host-latchkey-session=${token(f)}`],
    [
      'the token percent-encoded twice',
      (f) => `${SESSION_COOKIE}=${token(f).replace('.', '%252E')}`,
    ],
    ['a nameless cookie', (f) => `=${token(f)}`],
  ]
  for (const [name, cookie] of cases) {
    it(`${name} → 401 unauthorized, nothing written`, async () => {
      const f = await fixture()
      const response = await f.h.send('/auth/session', { headers: { cookie: cookie(f) } })
      await assertRefused(f, response, 401, 'unauthorized')
    })
  }

  it('odd cookies on an unsafe request are refused before any change', async () => {
    const f = await fixture()
    const response = await f.h.send(`/auth/sessions/${f.other.sessionId}`, {
      method: 'DELETE',
      headers: authed(f.session, { cookie: `${f.session.cookie}; ${SESSION_COOKIE}=x` }),
    })
    await assertRefused(f, response, 401, 'unauthorized')
  })
})

describe('odd headers', () => {
  it('a Bearer header with garbage is refused as an invalid token', async () => {
    const f = await fixture()
    const response = await f.h.send('/auth/session', {
      headers: { authorization: `Bearer ${'A'.repeat(5000)}` },
    })
    await assertRefused(f, response, 401, 'invalid_token')
  })

  it('a Basic header carrying the right password is not a credential', async () => {
    const f = await fixture()
    const basic = Buffer.from(`${EMAIL}:${PASSWORD}`).toString('base64')
    const response = await f.h.send('/auth/session', {
      headers: { authorization: `Basic ${basic}` },
    })
    await assertRefused(f, response, 401, 'unauthorized')
  })

  it('a 10 KiB User-Agent is stored cut to a bound', async () => {
    const f = await fixture()
    await login(f.h, EMAIL, PASSWORD)
    const response = await f.h.send('/auth/login', {
      method: 'POST',
      headers: browserHeaders({ 'user-agent': 'U'.repeat(10 * 1024) }),
      body: JSON.stringify({ email: EMAIL, password: PASSWORD }),
    })
    assert.equal(response.status, 200)
    const { session } = (await response.json()) as { session: { id: string } }
    const stored = await f.h.store.getLogin(session.id)
    assert.ok((stored?.userAgent?.length ?? 0) <= 512)
    assert.deepEqual(f.h.errors, [])
  })

  it('a forged X-Forwarded-For is not taken as the client address', async () => {
    const f = await fixture()
    const response = await f.h.send('/auth/login', {
      method: 'POST',
      headers: browserHeaders({ 'x-forwarded-for': `${'9'.repeat(5000)}, 1.2.3.4` }),
      body: JSON.stringify({ email: EMAIL, password: PASSWORD }),
      ip: '198.51.100.23',
    })
    assert.equal(response.status, 200)
    const { session } = (await response.json()) as { session: { id: string; ip: string } }
    assert.equal(session.ip, '198.51.100.23')
  })
})

/**
 * Latchkey's handler on node:http has its replies written to node's response directly; any
 * other function goes through @hono/node-server. Both face the same wire. Each records the
 * statuses its handler answered.
 */
const nodeServers: [string, (f: Fixture, statuses: number[]) => Handler | WebHandler][] = [
  [
    "Latchkey's handler, its replies written directly",
    (f, statuses) => {
      const { handler } = f.h.latchkey
      return Object.assign(handler.bind(null), {
        reply: async (...args: Parameters<Handler['reply']>) => {
          const reply = await handler.reply(...args)
          statuses.push(reply.status)
          return reply
        },
      })
    },
  ],
  [
    'a web handler around it',
    (f, statuses) => async (request, connection) => {
      const response = await f.h.latchkey.handler(request, connection)
      statuses.push(response.status)
      return response
    },
  ],
]

for (const [served, serve] of nodeServers)
  describe(`through the node:http server: ${served}`, () => {
    let f: Fixture
    let server: ReturnType<typeof createNodeServer>
    let port: number
    const statuses: number[] = []

    before(async () => {
      f = await fixture()
      server = createNodeServer(serve(f, statuses))
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      port = (server.address() as AddressInfo).port
    })

    after(async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    })

    /** Writes raw bytes, then reads until the server closes; returns the response text. */
    function raw(request: string | Buffer, options: { end?: boolean } = {}): Promise<string> {
      return new Promise((resolve, reject) => {
        const socket = connect(port, '127.0.0.1')
        const chunks: Buffer[] = []
        socket.on('data', (chunk: Buffer) => chunks.push(chunk))
        socket.on('error', reject)
        socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')))
        socket.write(request)
        if (options.end !== false) socket.end()
      })
    }

    const statusOf = (response: string) => Number(/^HTTP\/1\.1 (\d{3}) /.exec(response)?.[1])

    function assertNoServerError(response: string) {
      const status = statusOf(response)
      assert.ok(status >= 400 && status < 500, `a 4xx, got: ${response.slice(0, 200)}`)
      assert.deepEqual(f.h.errors, [])
      assert.deepEqual(f.writes, [])
      assert.ok(statuses.every((each) => each < 500))
    }

    it('serves a normal request with the security headers', async () => {
      const response = await fetch(`http://127.0.0.1:${port}/auth/session`, {
        headers: { cookie: f.session.cookie },
      })
      assert.equal(response.status, 200)
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff')
      assert.equal(response.headers.get('cache-control'), 'no-store')
    })

    it('HEAD answers as GET does on the wire: the same headers, no content', async () => {
      const request = (method: string) =>
        raw(
          `${method} /.well-known/jwks.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
        )
      const [get, head] = [await request('GET'), await request('HEAD')]
      // The length of GET, if HEAD gives one at all (RFC 9110 §8.6 allows either).
      const lengthOf = (response: string) => /^content-length: (\d+)$/im.exec(response)?.[1]
      const headersOf = (response: string) =>
        response
          .split('\r\n\r\n')[0]!
          .split('\r\n')
          .filter((line) => !/^(date|connection|keep-alive|content-length):/i.test(line))
      assert.equal(statusOf(head), 200)
      assert.deepEqual(headersOf(head), headersOf(get))
      assert.match(get, /^cache-control: public/im, "the route's own cache-control")
      assert.ok(Number(lengthOf(get)) > 0)
      if (lengthOf(head) !== undefined) assert.equal(lengthOf(head), lengthOf(get))
      assert.equal(head.split('\r\n\r\n')[1], '')
      assert.deepEqual(f.h.errors, [])
    })

    it('a refusal carries its challenge and its Allow header', async () => {
      const unauthorized = await fetch(`http://127.0.0.1:${port}/auth/session`)
      assert.equal(unauthorized.status, 401)
      assert.match(unauthorized.headers.get('www-authenticate') ?? '', /^Bearer realm=/)
      const notAllowed = await fetch(`http://127.0.0.1:${port}/healthz`, { method: 'PUT' })
      assert.equal(notAllowed.status, 405)
      assert.equal(notAllowed.headers.get('allow'), 'GET, HEAD')
      assert.equal(notAllowed.headers.get('x-frame-options'), 'DENY')
    })

    it('a session login sets its cookie, and logging out clears it', async () => {
      const login = await fetch(`http://127.0.0.1:${port}/auth/login`, {
        method: 'POST',
        headers: browserHeaders(),
        body: JSON.stringify({ email: EMAIL, password: PASSWORD }),
      })
      assert.equal(login.status, 200)
      const [cookie] = login.headers.getSetCookie()
      assert.match(cookie ?? '', /^__Host-[^=]+=[^;]+; .*HttpOnly/i)
      const { csrfToken } = (await login.json()) as { csrfToken: string }
      const logout = await fetch(`http://127.0.0.1:${port}/auth/logout`, {
        method: 'POST',
        headers: browserHeaders({ cookie: cookie!.split(';')[0]!, 'x-csrf-token': csrfToken }),
      })
      assert.equal(logout.status, 204)
      assert.match(logout.headers.getSetCookie()[0] ?? '', /Max-Age=0/i)
      f.writes.length = 0
    })

    it('an invalid Host header → 400 invalid_request with the security headers', async () => {
      const response = await raw(
        'GET /auth/session HTTP/1.1\r\nHost: exa mple.com\r\nConnection: close\r\n\r\n',
      )
      assert.equal(statusOf(response), 400)
      assert.match(response, /"error":"invalid_request"/)
      assert.match(response, /x-content-type-options: nosniff/i)
      assert.match(response, /cache-control: no-store/i)
      assertNoServerError(response)
    })

    // Refused by the parser or the listener before any route: the status, and never a 500.
    const refusals: [name: string, request: () => string, status: number][] = [
      [
        'no Host header at all → 400',
        () => 'GET /auth/session HTTP/1.1\r\nConnection: close\r\n\r\n',
        400,
      ],
      [
        'a backslash in the path → 400',
        () => 'GET /auth\\session HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
        400,
      ],
      [
        'headers over 16 KiB → 431, never 500',
        () =>
          `GET /auth/session HTTP/1.1\r\nHost: localhost\r\nX-Pad: ${'x'.repeat(20 * 1024)}\r\nConnection: close\r\n\r\n`,
        431,
      ],
      [
        'a Cookie header over 16 KiB → 431, never 500',
        () =>
          `GET /auth/session HTTP/1.1\r\nHost: localhost\r\nCookie: ${f.session.cookie}; pad=${'x'.repeat(20 * 1024)}\r\nConnection: close\r\n\r\n`,
        431,
      ],
      [
        'a non-numeric Content-Length on the wire → 400',
        () =>
          'POST /auth/signup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: abc\r\nConnection: close\r\n\r\n{}',
        400,
      ],
    ]
    for (const [name, request, status] of refusals) {
      it(name, async () => {
        const response = await raw(request())
        assert.equal(statusOf(response), status)
        assertNoServerError(response)
      })
    }

    it('a Host header that smuggles a path is refused', async () => {
      const response = await raw(
        'GET /session HTTP/1.1\r\nHost: auth.example.com/auth\r\nConnection: close\r\n\r\n',
      )
      assertNoServerError(response)
    })

    it('an absolute-form request target to another host is not served as ours', async () => {
      const response = await raw(
        `POST http://evil.example/auth/signup HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
      )
      assertNoServerError(response)
    })

    it('Content-Length together with Transfer-Encoding (smuggling) → 400', async () => {
      const body = JSON.stringify({ email: 'smuggled@example.com', password: PASSWORD })
      const response = await raw(
        `POST /auth/signup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
      )
      assert.equal(statusOf(response), 400)
      assertNoServerError(response)
    })

    it('a declared body over 16 KiB is refused with 413 before it is sent', async () => {
      const response = await raw(
        `POST /auth/signup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${10 * 1024 * 1024}\r\nConnection: close\r\n\r\n{"email":`,
      )
      assert.equal(statusOf(response), 413)
      assert.match(response, /"error":"payload_too_large"/)
      assertNoServerError(response)
    })

    it('a chunked body over 16 KiB → 413', async () => {
      const chunk = 'x'.repeat(4096)
      const body = Array.from({ length: 8 }, () => `1000\r\n${chunk}\r\n`).join('') + '0\r\n\r\n'
      const response = await raw(
        `POST /auth/signup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body}`,
      )
      assert.equal(statusOf(response), 413)
      assertNoServerError(response)
    })

    it('a body aborted midway writes nothing and logs nothing', async () => {
      const before = statuses.length
      await new Promise<void>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(
            'POST /auth/signup HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"email":"aborted@example.com",',
            () => setTimeout(() => socket.destroy(), 20),
          )
        })
        socket.on('error', reject)
        socket.on('close', () => resolve())
      })
      // The handler sees the aborted body and answers (to nobody); wait for that answer.
      for (let i = 0; i < 100 && statuses.length === before; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      assert.equal(statuses.length, before + 1, 'the handler finished')
      assert.ok(statuses.at(-1)! >= 400 && statuses.at(-1)! < 500)
      assert.equal(await f.h.store.getUserByEmail('aborted@example.com'), null)
      assert.deepEqual(f.writes, [])
      assert.deepEqual(f.h.errors, [])
    })

    it('a slow body that trickles in is read as usual', async () => {
      const body = JSON.stringify({ email: EMAIL, password: PASSWORD })
      const response = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1')
        const chunks: Buffer[] = []
        socket.on('data', (chunk: Buffer) => chunks.push(chunk))
        socket.on('error', reject)
        socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')))
        socket.write(
          `POST /auth/login HTTP/1.1\r\nHost: localhost\r\nOrigin: ${ISSUER}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
        )
        const parts = [body.slice(0, 10), body.slice(10, 30), body.slice(30)]
        parts.forEach((part, i) => setTimeout(() => socket.write(part), 15 * (i + 1)))
      })
      assert.equal(statusOf(response), 200)
      assert.deepEqual(f.h.errors, [])
      f.writes.length = 0
    })
  })
