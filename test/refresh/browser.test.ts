import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  authed,
  bearer,
  browserHeaders,
  harness,
  newUser,
  PASSWORD,
  signup,
  tokenLogin,
} from '../harness.js'
import type { Harness } from '../harness.js'
import { outcome, probe, refresh, refreshed, tokenUser } from './helpers.js'
import type { TokenBody } from './helpers.js'

const REFRESH = '__Secure-latchkey-refresh'

function refreshSetCookie(response: Response): string | undefined {
  return response.headers.getSetCookie().find((cookie) => cookie.startsWith(`${REFRESH}=`))
}

/** A browser login in token mode with the cookie transport. */
async function browserLogin(h: Harness) {
  const email = `browser-${Math.random()}@example.com`
  assert.equal((await signup(h, email)).status, 201)
  const response = await h.send('/auth/login', {
    method: 'POST',
    headers: browserHeaders(),
    body: JSON.stringify({ email, password: PASSWORD, mode: 'token', transport: 'cookie' }),
  })
  assert.equal(response.status, 200)
  const setCookie = refreshSetCookie(response)
  assert.ok(setCookie !== undefined)
  const body = (await response.json()) as TokenBody
  return { email, body, setCookie, cookie: setCookie.split(';')[0]! }
}

function cookieRefresh(h: Harness, cookie: string, headers = browserHeaders()) {
  return h.send('/auth/refresh', { method: 'POST', headers: { ...headers, cookie } })
}

describe('refresh cookie transport', () => {
  it('puts the refresh token in a __Secure- cookie limited to the refresh route', async () => {
    const h = harness()
    const { body, setCookie } = await browserLogin(h)
    assert.equal(body.refresh_token, undefined)
    assert.equal(typeof body.access_token, 'string')
    const attributes = setCookie.split(';').map((part) => part.trim().toLowerCase())
    assert.ok(attributes.includes('secure'))
    assert.ok(attributes.includes('httponly'))
    assert.ok(attributes.includes('path=/auth/refresh'))
    assert.ok(attributes.includes('samesite=strict'))
    assert.ok(attributes.includes(`max-age=${30 * 24 * 3600}`))
    assert.ok(!attributes.some((part) => part.startsWith('domain')))
  })

  it('rotates through the cookie and sets the rotated one, no-store', async () => {
    const h = harness()
    const { cookie, body } = await browserLogin(h)
    const response = await cookieRefresh(h, cookie)
    assert.equal(response.status, 200)
    assert.equal(response.headers.get('cache-control'), 'no-store')
    const next = refreshSetCookie(response)
    assert.ok(next !== undefined && next.split(';')[0] !== cookie)
    const rotated = (await response.json()) as TokenBody
    assert.equal(rotated.refresh_token, undefined)
    assert.deepEqual(await probe(h, rotated.access_token), [200, undefined])
    assert.notEqual(rotated.access_token, body.access_token)
    const again = await cookieRefresh(h, next.split(';')[0]!)
    assert.equal(again.status, 200)
  })

  it('a cookie refresh must come from a trusted origin', async () => {
    const h = harness()
    const { cookie } = await browserLogin(h)
    const foreign = browserHeaders({
      origin: 'https://evil.example',
      'sec-fetch-site': 'cross-site',
    })
    assert.deepEqual(await outcome(await cookieRefresh(h, cookie, foreign)), [403, 'csrf_failed'])
    const lookalike = browserHeaders({
      origin: 'https://auth.example.com.attacker.net',
      'sec-fetch-site': 'same-site',
    })
    assert.deepEqual(await outcome(await cookieRefresh(h, cookie, lookalike)), [403, 'csrf_failed'])
    const bare = { 'content-type': 'application/json' }
    assert.deepEqual(await outcome(await cookieRefresh(h, cookie, bare)), [403, 'csrf_failed'])
    // Nothing was spent by the refused requests.
    assert.equal((await cookieRefresh(h, cookie)).status, 200)
  })

  it('a reused cookie answers refresh_token_reused and clears the cookie', async () => {
    const h = harness()
    const { cookie } = await browserLogin(h)
    const first = await cookieRefresh(h, cookie)
    assert.equal(first.status, 200)
    h.clock.advance(11_000)
    const reuse = await cookieRefresh(h, cookie)
    assert.deepEqual(await outcome(reuse.clone()), [401, 'refresh_token_reused'])
    const cleared = refreshSetCookie(reuse)
    assert.ok(cleared !== undefined && /max-age=0/i.test(cleared))
    const rotated = refreshSetCookie(first)!.split(';')[0]!
    assert.deepEqual(await outcome(await cookieRefresh(h, rotated)), [401, 'invalid_refresh_token'])
  })

  it('a body token wins over the cookie and is answered in the body', async () => {
    const h = harness()
    const { cookie } = await browserLogin(h)
    const { token } = await tokenUser(h)
    const response = await h.send('/auth/refresh', {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ refresh_token: token.refreshToken }),
    })
    assert.equal(response.status, 200)
    assert.equal(refreshSetCookie(response), undefined)
    assert.equal(typeof ((await response.json()) as TokenBody).refresh_token, 'string')
  })

  it('logout from the browser ends the family and clears the refresh cookie', async () => {
    const h = harness()
    const { cookie, body } = await browserLogin(h)
    const response = await h.send('/auth/logout', {
      method: 'POST',
      headers: browserHeaders({ authorization: `Bearer ${body.access_token}` }),
    })
    assert.equal(response.status, 204)
    const cleared = refreshSetCookie(response)
    assert.ok(
      cleared !== undefined && /max-age=0/i.test(cleared) && /path=\/auth\/refresh/i.test(cleared),
    )
    assert.deepEqual(await outcome(await cookieRefresh(h, cookie)), [401, 'invalid_refresh_token'])
  })
})

describe('families end as sessions do', () => {
  for (const scope of ['local', 'global'] as const) {
    it(`logout (${scope}) with Bearer ends the family`, async () => {
      const { h, token } = await tokenUser()
      const response = await h.send('/auth/logout', {
        method: 'POST',
        headers: bearer(token.accessToken),
        body: JSON.stringify({ scope }),
      })
      assert.equal(response.status, 204)
      assert.deepEqual(await outcome(await refresh(h, token.refreshToken)), [
        401,
        'invalid_refresh_token',
      ])
    })
  }

  it('logout (others) from a cookie session ends every family, keeps the session', async () => {
    const h = harness()
    const { email, session } = await newUser(h)
    const family = await tokenLogin(h, email)
    const response = await h.send('/auth/logout', {
      method: 'POST',
      headers: authed(session),
      body: JSON.stringify({ scope: 'others' }),
    })
    assert.equal(response.status, 204)
    assert.deepEqual(await outcome(await refresh(h, family.refreshToken)), [
      401,
      'invalid_refresh_token',
    ])
  })

  it('DELETE /auth/sessions/:sid ends that family', async () => {
    const { h, token } = await tokenUser()
    const other = (await tokenUser(h)).token
    const response = await h.send(`/auth/sessions/${token.loginId}`, {
      method: 'DELETE',
      headers: bearer(other.accessToken),
    })
    assert.equal(response.status, 404) // another user's family answers as unknown
    const own = await h.send(`/auth/sessions/${token.loginId}`, {
      method: 'DELETE',
      headers: bearer(token.accessToken),
    })
    assert.equal(own.status, 204)
    assert.deepEqual(await outcome(await refresh(h, token.refreshToken)), [
      401,
      'invalid_refresh_token',
    ])
  })

  it('a password change ends every family and gives a Bearer caller a new one', async () => {
    const { h, email, token } = await tokenUser()
    const other = await tokenLogin(h, email)
    const response = await h.send('/auth/password', {
      method: 'POST',
      headers: bearer(token.accessToken),
      body: JSON.stringify({
        currentPassword: PASSWORD,
        newPassword: 'another long passphrase 42',
      }),
    })
    assert.equal(response.status, 200)
    const fresh = (await response.json()) as TokenBody
    for (const old of [token.refreshToken, other.refreshToken]) {
      assert.deepEqual(await outcome(await refresh(h, old)), [401, 'invalid_refresh_token'])
    }
    assert.ok(fresh.refresh_token !== undefined)
    const next = await refreshed(h, fresh.refresh_token)
    assert.deepEqual(await probe(h, next.access_token), [200, undefined])
  })

  it('GET /auth/sessions lists families beside cookie sessions', async () => {
    const h = harness()
    const { email, session } = await newUser(h)
    const family = await tokenLogin(h, email)
    await refreshed(h, family.refreshToken)
    const response = await h.send('/auth/sessions', { headers: authed(session) })
    const { sessions } = (await response.json()) as {
      sessions: { id: string; kind: string; current: boolean }[]
    }
    const kinds = Object.fromEntries(sessions.map((each) => [each.id, each.kind]))
    assert.equal(kinds[family.loginId], 'token')
    assert.equal(kinds[session.sessionId], 'session')
  })
})
