import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { BrowserSession, Harness, ErrorBody } from '../../test/harness.js'
import {
  authed,
  browserHeaders,
  harness,
  login,
  newUser,
  ORIGIN,
  PASSWORD,
  signup,
} from '../../test/harness.js'
import type { LatchkeyOptions } from '../config.js'

const NEW_PASSWORD = 'a completely different passphrase'
const SIBLING = 'https://app.example.com'

/** A user with two sessions: `actor` sends the requests, `target` is what they would end. */
async function setup(options: Partial<LatchkeyOptions> = {}) {
  const h = harness(options)
  const { email, session: actor } = await newUser(h, `csrf-${Math.random()}@example.com`)
  const target = await login(h, email)
  const user = (await h.store.getUserByEmail(email))!
  return { h, email, actor, target, passwordHash: user.passwordHash }
}

type Setup = Awaited<ReturnType<typeof setup>>

async function alive(h: Harness, session: BrowserSession): Promise<boolean> {
  const response = await h.send('/auth/session', { headers: { cookie: session.cookie } })
  return response.status === 200
}

/**
 * The three cookie-authenticated unsafe requests, what success looks like, and what
 * must be true when they were refused.
 */
const endpoints = [
  {
    name: 'DELETE /auth/sessions/:id',
    send: (s: Setup, headers: Record<string, string>) =>
      s.h.send(`/auth/sessions/${s.target.sessionId}`, { method: 'DELETE', headers }),
    succeeded: 204,
  },
  {
    name: 'POST /auth/logout',
    send: (s: Setup, headers: Record<string, string>) =>
      s.h.send('/auth/logout', {
        method: 'POST',
        headers,
        body: JSON.stringify({ scope: 'global' }),
      }),
    succeeded: 204,
  },
  {
    name: 'POST /auth/password',
    send: (s: Setup, headers: Record<string, string>) =>
      s.h.send('/auth/password', {
        method: 'POST',
        headers,
        body: JSON.stringify({ currentPassword: PASSWORD, newPassword: NEW_PASSWORD }),
      }),
    succeeded: 200,
  },
]

/** Nothing the request would have done was done. */
async function assertUnchanged(s: Setup): Promise<void> {
  assert.equal(await alive(s.h, s.actor), true, 'the sending session is alive')
  assert.equal(await alive(s.h, s.target), true, 'the target session is alive')
  const user = (await s.h.store.getUserByEmail(s.email))!
  assert.equal(user.passwordHash, s.passwordHash, 'the password is unchanged')
  assert.equal(user.tokenVersion, 0, 'the token version is unchanged')
  assert.deepEqual(s.h.errors, [])
}

async function assertCsrfRefused(response: Response): Promise<void> {
  assert.equal(response.status, 403)
  const body = (await response.json()) as ErrorBody
  assert.equal(body.error, 'csrf_failed')
  assert.equal(response.headers.getSetCookie().length, 0, 'no cookie is set or cleared')
}

/** Headers with some of a same-origin browser's headers removed. */
function without(headers: Record<string, string>, ...names: string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !names.includes(name)))
}

interface Variant {
  name: string
  headers: (s: Setup, other: { csrfToken: string }) => Record<string, string>
  options?: Partial<LatchkeyOptions>
}

const refused: Variant[] = [
  {
    name: 'Sec-Fetch-Site: cross-site, even with the correct token',
    headers: (s) =>
      authed(s.actor, { 'sec-fetch-site': 'cross-site', origin: 'https://attacker.net' }),
  },
  {
    name: 'Sec-Fetch-Site: cross-site, even with a trusted Origin and the correct token',
    headers: (s) => authed(s.actor, { 'sec-fetch-site': 'cross-site' }),
  },
  ...[
    'https://auth.example.com.attacker.net',
    'https://attacker.net',
    'http://auth.example.com',
    'https://auth.example.com:444',
    'https://evil-auth.example.com',
    'https://auth.example.co',
    'https://AUTH.EXAMPLE.COM.attacker.net',
    `${ORIGIN}/`,
    `${ORIGIN}, https://attacker.net`,
  ].map((origin): Variant => ({
    name: `no Fetch-Metadata and the look-alike Origin ${origin}`,
    headers: (s) => without(authed(s.actor, { origin }), 'sec-fetch-site'),
  })),
  {
    name: 'Origin: null (a sandboxed frame)',
    headers: (s) => without(authed(s.actor, { origin: 'null' }), 'sec-fetch-site'),
  },
  {
    name: 'Origin: null with Sec-Fetch-Site: same-origin',
    headers: (s) => authed(s.actor, { origin: 'null' }),
  },
  {
    name: 'no Origin, no Referer and no Fetch-Metadata',
    headers: (s) => without(authed(s.actor), 'origin', 'sec-fetch-site'),
  },
  {
    name: 'no Origin and a Referer from a look-alike host',
    headers: (s) =>
      without(
        authed(s.actor, { referer: 'https://auth.example.com.attacker.net/account' }),
        'origin',
        'sec-fetch-site',
      ),
  },
  {
    name: 'no Origin and a Referer that is not a URL',
    headers: (s) =>
      without(authed(s.actor, { referer: 'auth.example.com' }), 'origin', 'sec-fetch-site'),
  },
  {
    name: 'an unknown Sec-Fetch-Site value and no Origin',
    headers: (s) => without(authed(s.actor, { 'sec-fetch-site': 'evil' }), 'origin'),
  },
  {
    name: 'Sec-Fetch-Site: same-site from an untrusted sibling origin',
    headers: (s) => authed(s.actor, { 'sec-fetch-site': 'same-site', origin: SIBLING }),
  },
  {
    name: 'Sec-Fetch-Site: same-site without an Origin',
    headers: (s) => without(authed(s.actor, { 'sec-fetch-site': 'same-site' }), 'origin'),
  },
  {
    name: 'a missing x-csrf-token',
    headers: (s) => without(authed(s.actor), 'x-csrf-token'),
  },
  {
    name: 'an empty x-csrf-token',
    headers: (s) => authed(s.actor, { 'x-csrf-token': '' }),
  },
  {
    name: 'a truncated x-csrf-token',
    headers: (s) => authed(s.actor, { 'x-csrf-token': s.actor.csrfToken.slice(0, -1) }),
  },
  {
    name: 'the x-csrf-token twice',
    headers: (s) =>
      authed(s.actor, { 'x-csrf-token': `${s.actor.csrfToken}, ${s.actor.csrfToken}` }),
  },
  {
    name: "another session's x-csrf-token (same user)",
    headers: (s) => authed(s.actor, { 'x-csrf-token': s.target.csrfToken }),
  },
  {
    name: "another user's x-csrf-token",
    headers: (s, other) => authed(s.actor, { 'x-csrf-token': other.csrfToken }),
  },
]

const accepted: Variant[] = [
  {
    name: 'a same-origin request with the correct token',
    headers: (s) => authed(s.actor),
  },
  {
    name: 'no Origin and no Fetch-Metadata, but a Referer from a trusted page',
    headers: (s) =>
      without(
        authed(s.actor, { referer: `${ORIGIN}/account?tab=sessions` }),
        'origin',
        'sec-fetch-site',
      ),
  },
  {
    name: 'no Fetch-Metadata and the trusted Origin',
    headers: (s) => without(authed(s.actor), 'sec-fetch-site'),
  },
  {
    name: 'Sec-Fetch-Site: same-site from a configured trusted origin',
    headers: (s) => authed(s.actor, { 'sec-fetch-site': 'same-site', origin: SIBLING }),
    options: { trustedOrigins: [ORIGIN, SIBLING] },
  },
]

for (const endpoint of endpoints) {
  describe(`CSRF on ${endpoint.name}`, () => {
    for (const variant of refused) {
      it(`refuses ${variant.name}, and nothing changes`, async () => {
        const s = await setup(variant.options)
        const { session: other } = await newUser(s.h)
        const response = await endpoint.send(s, variant.headers(s, other))
        await assertCsrfRefused(response)
        await assertUnchanged(s)
      })
    }

    for (const variant of accepted) {
      it(`accepts ${variant.name}`, async () => {
        const s = await setup(variant.options)
        const { session: other } = await newUser(s.h)
        const response = await endpoint.send(s, variant.headers(s, other))
        assert.equal(response.status, endpoint.succeeded, await response.clone().text())
        // The request did what it says: the target, or every session, is gone.
        assert.equal(await alive(s.h, s.target), false)
        assert.deepEqual(s.h.errors, [])
      })
    }
  })
}

describe('state never changes on GET', () => {
  for (const [path, allow] of [
    ['/auth/logout', 'POST'],
    ['/auth/password', 'POST'],
    ['/auth/login', 'POST'],
    ['/auth/signup', 'POST'],
  ] as const) {
    it(`GET and HEAD ${path} → 405 with Allow: ${allow}, and the session still works`, async () => {
      const s = await setup()
      for (const method of ['GET', 'HEAD']) {
        const response = await s.h.send(`${path}?scope=global`, {
          method,
          headers: { cookie: s.actor.cookie, 'x-csrf-token': s.actor.csrfToken },
        })
        assert.equal(response.status, 405)
        assert.equal(response.headers.get('allow'), allow)
        if (method === 'GET') {
          assert.equal(((await response.json()) as ErrorBody).error, 'method_not_allowed')
        }
        assert.equal(response.headers.getSetCookie().length, 0)
      }
      await assertUnchanged(s)
    })
  }

  it('GET /auth/sessions/:id → 405 with Allow: DELETE, and the session lives on', async () => {
    const s = await setup()
    const response = await s.h.send(`/auth/sessions/${s.target.sessionId}`, {
      headers: { cookie: s.actor.cookie },
    })
    assert.equal(response.status, 405)
    assert.equal(response.headers.get('allow'), 'DELETE')
    await assertUnchanged(s)
  })

  it('a method-override header does not turn a POST into a DELETE', async () => {
    const s = await setup()
    for (const header of ['x-http-method-override', 'x-http-method', 'x-method-override']) {
      const response = await s.h.send(`/auth/sessions/${s.target.sessionId}?_method=DELETE`, {
        method: 'POST',
        headers: authed(s.actor, { [header]: 'DELETE' }),
      })
      assert.equal(response.status, 405)
    }
    await assertUnchanged(s)
  })

  it('GET requests need no CSRF token and change nothing', async () => {
    const s = await setup()
    for (const path of ['/auth/session', '/auth/sessions']) {
      const response = await s.h.send(path, { headers: { cookie: s.actor.cookie } })
      assert.equal(response.status, 200, path)
    }
    await assertUnchanged(s)
  })
})

describe('login CSRF', () => {
  async function loginAttempt(
    h: Harness,
    email: string,
    headers: Record<string, string>,
    body = JSON.stringify({ email, password: PASSWORD, mode: 'session' }),
  ) {
    return h.send('/auth/login', { method: 'POST', headers, body })
  }

  async function assertNoLogin(h: Harness, email: string, response: Response) {
    assert.equal(response.headers.getSetCookie().length, 0, 'no cookie is set')
    const user = (await h.store.getUserByEmail(email))!
    const logins = await h.store.listLiveLogins(user.id, h.clock())
    assert.equal(logins.length, 0, 'no session was created')
    assert.deepEqual(h.errors, [])
  }

  async function registered() {
    const h = harness()
    const email = `victim-${Math.random()}@example.com`
    assert.equal((await signup(h, email)).status, 201)
    return { h, email }
  }

  for (const [name, headers] of [
    ['Sec-Fetch-Site: cross-site', browserHeaders({ 'sec-fetch-site': 'cross-site' })],
    [
      'Sec-Fetch-Site: cross-site from a foreign Origin',
      browserHeaders({ 'sec-fetch-site': 'cross-site', origin: 'https://attacker.net' }),
    ],
    [
      'an untrusted Origin without Fetch-Metadata',
      without(browserHeaders({ origin: 'https://attacker.net' }), 'sec-fetch-site'),
    ],
    [
      'a look-alike Origin without Fetch-Metadata',
      without(
        browserHeaders({ origin: 'https://auth.example.com.attacker.net' }),
        'sec-fetch-site',
      ),
    ],
    ['Origin: null', without(browserHeaders({ origin: 'null' }), 'sec-fetch-site')],
    [
      'Sec-Fetch-Site: same-site from an untrusted sibling',
      browserHeaders({ 'sec-fetch-site': 'same-site', origin: SIBLING }),
    ],
  ] as const) {
    it(`refuses a login with ${name}: 403 and no cookie`, async () => {
      const { h, email } = await registered()
      const response = await loginAttempt(h, email, headers)
      await assertCsrfRefused(response)
      await assertNoLogin(h, email, response)
    })
  }

  for (const type of [
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
  ]) {
    it(`refuses a login body sent as ${type} (what a cross-site form can send): 415`, async () => {
      const { h, email } = await registered()
      const body =
        type === 'application/x-www-form-urlencoded'
          ? new URLSearchParams({ email, password: PASSWORD }).toString()
          : JSON.stringify({ email, password: PASSWORD })
      const response = await loginAttempt(h, email, browserHeaders({ 'content-type': type }), body)
      assert.equal(response.status, 415)
      assert.equal(((await response.json()) as ErrorBody).error, 'unsupported_media_type')
      await assertNoLogin(h, email, response)
    })
  }

  it('refuses a cross-site sign-up: 403 and no account', async () => {
    const h = harness()
    const email = 'planted@example.com'
    const response = await h.send('/auth/signup', {
      method: 'POST',
      headers: browserHeaders({ 'sec-fetch-site': 'cross-site', origin: 'https://attacker.net' }),
      body: JSON.stringify({ email, password: PASSWORD }),
    })
    await assertCsrfRefused(response)
    assert.equal(await h.store.getUserByEmail(email), null)
  })

  it('still lets a same-origin page log in', async () => {
    const { h, email } = await registered()
    const response = await loginAttempt(h, email, browserHeaders())
    assert.equal(response.status, 200)
    assert.equal(response.headers.getSetCookie().length, 1)
  })
})
