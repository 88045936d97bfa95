import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { authed, bearer, harness, newUser, PASSWORD, signup, tokenLogin } from '../harness.js'
import type { Harness } from '../harness.js'

async function setup(h: Harness = harness()) {
  const email = `r-${Math.random()}@example.com`
  assert.equal((await signup(h, email)).status, 201)
  return { h, email, token: await tokenLogin(h, email) }
}

/** The status and error code of GET /auth/session with this token. */
async function probe(h: Harness, token: string): Promise<[number, string | undefined]> {
  const response = await h.send('/auth/session', { headers: bearer(token) })
  const body = (await response.json()) as { error?: string }
  return [response.status, body.error]
}

function logout(h: Harness, token: string, scope: string): Promise<Response> {
  return h.send('/auth/logout', {
    method: 'POST',
    headers: bearer(token),
    body: JSON.stringify({ scope }),
  })
}

describe('access-token revocation', () => {
  it('logout (local) revokes the sid and denies the jti; another token login works', async () => {
    const { h, email, token } = await setup()
    const other = await tokenLogin(h, email)
    const response = await logout(h, token.accessToken, 'local')
    assert.equal(response.status, 204)
    assert.deepEqual(response.headers.getSetCookie(), [])
    assert.deepEqual(await probe(h, token.accessToken), [401, 'token_revoked'])
    assert.deepEqual(await probe(h, other.accessToken), [200, undefined])
    assert.equal((await h.store.getLogin(token.loginId))?.revokedAt, h.clock())
    const jti = JSON.parse(
      Buffer.from(token.accessToken.split('.')[1]!, 'base64url').toString(),
    ) as { jti: string }
    assert.equal(await h.store.isTokenDenied(jti.jti, h.clock()), true)
  })

  it('the jti denial alone refuses the token, whatever its login row says', async () => {
    const { h, token } = await setup()
    await logout(h, token.accessToken, 'local')
    // As if the revocation of the login were lost: the denylist must still hold.
    const getLogin = h.store.getLogin.bind(h.store)
    h.store.getLogin = async (id) => {
      const login = await getLogin(id)
      return login && { ...login, revokedAt: null }
    }
    assert.deepEqual(await probe(h, token.accessToken), [401, 'token_revoked'])
  })

  it('DELETE /auth/sessions/:sid revokes that token, from a cookie session', async () => {
    const h = harness()
    const { email, session } = await newUser(h)
    const token = await tokenLogin(h, email)
    const response = await h.send(`/auth/sessions/${token.loginId}`, {
      method: 'DELETE',
      headers: authed(session),
    })
    assert.equal(response.status, 204)
    assert.deepEqual(await probe(h, token.accessToken), [401, 'token_revoked'])
  })

  it('DELETE of its own sid with Bearer revokes the token itself', async () => {
    const { h, token } = await setup()
    const response = await h.send(`/auth/sessions/${token.loginId}`, {
      method: 'DELETE',
      headers: bearer(token.accessToken),
    })
    assert.equal(response.status, 204)
    assert.deepEqual(await probe(h, token.accessToken), [401, 'token_revoked'])
  })

  it('a password change with Bearer kills every login and returns a new token', async () => {
    const h = harness()
    const { email, session } = await newUser(h)
    const token = await tokenLogin(h, email)
    const other = await tokenLogin(h, email)
    const response = await h.send('/auth/password', {
      method: 'POST',
      headers: bearer(token.accessToken),
      body: JSON.stringify({ currentPassword: PASSWORD, newPassword: `${PASSWORD} again` }),
    })
    assert.equal(response.status, 200)
    assert.deepEqual(response.headers.getSetCookie(), [])
    const body = (await response.json()) as { token_type: string; access_token: string }
    assert.equal(body.token_type, 'Bearer')
    assert.deepEqual(await probe(h, token.accessToken), [401, 'token_revoked'])
    assert.deepEqual(await probe(h, other.accessToken), [401, 'token_revoked'])
    assert.deepEqual(await probe(h, body.access_token), [200, undefined])
    const cookie = await h.send('/auth/session', { headers: authed(session) })
    assert.equal(cookie.status, 401)
  })

  it('the ver check alone refuses a token minted before a version bump', async () => {
    const { h, token } = await setup()
    await h.store.bumpTokenVersion(token.userId, h.clock())
    assert.deepEqual(await probe(h, token.accessToken), [401, 'token_revoked'])
  })

  it('a password change from a cookie session revokes tokens too', async () => {
    const h = harness()
    const { email, session } = await newUser(h)
    const token = await tokenLogin(h, email)
    const response = await h.send('/auth/password', {
      method: 'POST',
      headers: authed(session),
      body: JSON.stringify({ currentPassword: PASSWORD, newPassword: `${PASSWORD} again` }),
    })
    assert.equal(response.status, 200)
    assert.deepEqual(await probe(h, token.accessToken), [401, 'token_revoked'])
  })

  it('logout global kills every token and session of the user', async () => {
    const h = harness()
    const { email, session } = await newUser(h)
    const token = await tokenLogin(h, email)
    const other = await tokenLogin(h, email)
    assert.equal((await logout(h, token.accessToken, 'global')).status, 204)
    assert.deepEqual(await probe(h, token.accessToken), [401, 'token_revoked'])
    assert.deepEqual(await probe(h, other.accessToken), [401, 'token_revoked'])
    assert.equal((await h.send('/auth/session', { headers: authed(session) })).status, 401)
    const fresh = await tokenLogin(h, email)
    assert.deepEqual(await probe(h, fresh.accessToken), [200, undefined])
  })

  it('logout others keeps the caller and kills the rest', async () => {
    const { h, email, token } = await setup()
    const other = await tokenLogin(h, email)
    assert.equal((await logout(h, token.accessToken, 'others')).status, 204)
    assert.deepEqual(await probe(h, token.accessToken), [200, undefined])
    assert.deepEqual(await probe(h, other.accessToken), [401, 'token_revoked'])
  })

  it('a revoked token cannot log out again (204, nothing changes)', async () => {
    const { h, token } = await setup()
    await logout(h, token.accessToken, 'local')
    assert.equal((await logout(h, token.accessToken, 'global')).status, 204)
    assert.equal((await h.store.getUserById(token.userId))?.tokenVersion, 0)
  })
})

describe('access-token expiry', () => {
  it('a token is token_expired once exp and the skew have passed', async () => {
    const { h, token } = await setup()
    h.clock.advance(600_000)
    assert.deepEqual(await probe(h, token.accessToken), [200, undefined])
    h.clock.advance(30_000)
    assert.deepEqual(await probe(h, token.accessToken), [401, 'token_expired'])
  })

  it('with no skew a token dies exactly at exp', async () => {
    const { h, token } = await setup(harness({ tokens: { skewSeconds: 0 } }))
    h.clock.advance(599_999)
    assert.deepEqual(await probe(h, token.accessToken), [200, undefined])
    h.clock.advance(1)
    assert.deepEqual(await probe(h, token.accessToken), [401, 'token_expired'])
  })

  it('a token login whose family went idle leaves the list of sessions', async () => {
    const { h, email, token } = await setup()
    const fresh = await tokenLogin(h, email)
    // The login is the refresh family: it lives until the family's idle expiry (7 days).
    h.clock.advance(7 * 24 * 3600_000)
    const newer = await tokenLogin(h, email)
    const response = await h.send('/auth/sessions', { headers: bearer(newer.accessToken) })
    const { sessions } = (await response.json()) as { sessions: { id: string }[] }
    const ids = sessions.map((each) => each.id)
    assert.ok(!ids.includes(token.loginId) && !ids.includes(fresh.loginId))
    assert.ok(ids.includes(newer.loginId))
  })
})
