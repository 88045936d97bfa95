import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { SESSION_COOKIE } from '../../src/sessions/cookies.js'
import {
  authed,
  bearer,
  harness,
  newUser,
  PASSWORD,
  signup,
  tokenLogin,
  type Harness,
} from '../harness.js'

async function tokenUser(h: Harness, email = `t-${Math.random()}@example.com`) {
  const response = await signup(h, email)
  assert.equal(response.status, 201)
  return { email, token: await tokenLogin(h, email) }
}

async function errorOf(response: Response): Promise<string> {
  return ((await response.json()) as { error: string }).error
}

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >
}

describe('token-mode login', () => {
  it('returns a Bearer access token, a refresh token, no cookie, and a token login', async () => {
    const h = harness()
    await signup(h, 'ada@example.com')
    const response = await h.send('/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'ada@example.com', password: PASSWORD, mode: 'token' }),
    })
    assert.equal(response.status, 200)
    assert.equal(response.headers.get('cache-control'), 'no-store')
    assert.deepEqual(response.headers.getSetCookie(), [])
    const body = (await response.json()) as Record<string, unknown>
    assert.deepEqual(Object.keys(body).sort(), [
      'access_token',
      'expires_in',
      'refresh_token',
      'token_type',
      'user',
    ])
    assert.equal(body['token_type'], 'Bearer')
    assert.equal(body['expires_in'], 600)
    const token = body['access_token'] as string
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as {
      typ: string
      alg: string
    }
    assert.deepEqual([header.typ, header.alg], ['at+jwt', 'EdDSA'])
    const claims = claimsOf(token)
    const user = body['user'] as { id: string }
    assert.equal(claims['iss'], 'https://auth.example.com')
    assert.equal(claims['aud'], 'https://auth.example.com')
    assert.equal(claims['sub'], user.id)
    assert.equal(claims['ver'], (await h.store.getUserById(user.id))?.tokenVersion)
    assert.equal((claims['exp'] as number) - (claims['iat'] as number), 600)
    const login = await h.store.getLogin(claims['sid'] as string)
    assert.equal(login?.kind, 'token')
    assert.equal(login?.userId, user.id)
    assert.equal(login?.secretHash, null)
  })

  it('honours the configured TTL and audience', async () => {
    const h = harness({ tokens: { accessTokenTtlSeconds: 120, audience: 'https://api.example' } })
    const { token } = await tokenUser(h)
    assert.equal(token.expiresIn, 120)
    assert.equal(claimsOf(token.accessToken)['aud'], 'https://api.example')
    const response = await h.send('/auth/session', { headers: bearer(token.accessToken) })
    assert.equal(response.status, 200)
  })

  it('refuses HS256 without a long enough secret at construction', () => {
    assert.throws(() => harness({ tokens: { alg: 'HS256' } }), /hmacSecret/)
    assert.throws(() => harness({ tokens: { alg: 'HS256', hmacSecret: 'short' } }), /32 bytes/)
    assert.throws(() => harness({ tokens: { accessTokenTtlSeconds: 0 } }), /accessTokenTtl/)
    const h = harness({ tokens: { alg: 'HS256', hmacSecret: 'h'.repeat(32) } })
    assert.equal(h.latchkey.config.tokens.alg, 'HS256')
  })

  it('works with HS256 end to end, and never publishes the secret key', async () => {
    const h = harness({ tokens: { alg: 'HS256', hmacSecret: 'h'.repeat(32) } })
    const { token } = await tokenUser(h)
    const response = await h.send('/auth/session', { headers: bearer(token.accessToken) })
    assert.equal(response.status, 200)
    const jwks = (await (await h.send('/.well-known/jwks.json')).json()) as { keys: unknown[] }
    assert.deepEqual(jwks.keys, [])
  })
})

describe('Bearer on authenticated routes', () => {
  it('GET /auth/session answers for the token, without a CSRF token', async () => {
    const h = harness()
    const { token } = await tokenUser(h)
    const response = await h.send('/auth/session', { headers: bearer(token.accessToken) })
    assert.equal(response.status, 200)
    const body = (await response.json()) as Record<string, { id: string; kind?: string }>
    assert.equal(body['user']?.id, token.userId)
    assert.equal(body['session']?.id, token.loginId)
    assert.equal(body['session']?.kind, 'token')
    assert.equal(body['csrfToken'], undefined)
  })

  it('GET /auth/sessions lists the token login as current beside a cookie session', async () => {
    const h = harness()
    const { email, session } = await newUser(h)
    const token = await tokenLogin(h, email)
    const response = await h.send('/auth/sessions', { headers: bearer(token.accessToken) })
    assert.equal(response.status, 200)
    const { sessions } = (await response.json()) as {
      sessions: { id: string; kind: string; current: boolean }[]
    }
    const byId = new Map(sessions.map((each) => [each.id, each]))
    assert.deepEqual(byId.get(token.loginId), {
      ...byId.get(token.loginId),
      kind: 'token',
      current: true,
    })
    assert.equal(byId.get(session.sessionId)?.current, false)
  })

  it('unsafe routes need no CSRF proof with Bearer, even cross-site', async () => {
    const h = harness()
    const { email, session } = await newUser(h)
    const token = await tokenLogin(h, email)
    const response = await h.send(`/auth/sessions/${session.sessionId}`, {
      method: 'DELETE',
      headers: bearer(token.accessToken, { 'sec-fetch-site': 'cross-site' }),
    })
    assert.equal(response.status, 204)
    assert.deepEqual(response.headers.getSetCookie(), [])
    assert.equal((await h.store.getLogin(session.sessionId))?.revokedAt, h.clock())
  })

  it('Bearer wins over a cookie: the request acts as the token', async () => {
    const h = harness()
    const { email, session } = await newUser(h)
    const token = await tokenLogin(h, email)
    const response = await h.send('/auth/session', {
      headers: { ...authed(session), authorization: `Bearer ${token.accessToken}` },
    })
    assert.equal(((await response.json()) as { session: { id: string } }).session.id, token.loginId)
    const bad = await h.send('/auth/session', {
      headers: { ...authed(session), authorization: 'Bearer not-a-token' },
    })
    assert.equal(bad.status, 401)
    assert.equal(await errorOf(bad), 'invalid_token')
  })

  it('a 401 for a bad token says invalid_token in WWW-Authenticate', async () => {
    const h = harness()
    const response = await h.send('/auth/session', { headers: bearer('a.b.c') })
    assert.equal(response.status, 401)
    assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer .*error="invalid_token"/)
    assert.equal(await errorOf(response), 'invalid_token')
  })

  it('an empty Bearer header is invalid_token', async () => {
    const h = harness()
    const response = await h.send('/auth/session', { headers: { authorization: 'Bearer' } })
    assert.equal(await errorOf(response), 'invalid_token')
  })
})

describe('token kinds do not mix', () => {
  it('a cookie-session value as a Bearer token is invalid_token', async () => {
    const h = harness()
    const { session } = await newUser(h)
    const value = session.cookie.slice(session.cookie.indexOf('=') + 1)
    const response = await h.send('/auth/session', { headers: bearer(value) })
    assert.equal(response.status, 401)
    assert.equal(await errorOf(response), 'invalid_token')
  })

  it('a refresh-token-shaped value as a Bearer token is invalid_token', async () => {
    const h = harness()
    const refreshShaped = `${'A'.repeat(22)}.${'B'.repeat(43)}`
    const response = await h.send('/auth/session', { headers: bearer(refreshShaped) })
    assert.equal(response.status, 401)
    assert.equal(await errorOf(response), 'invalid_token')
  })

  it('an access token in the session cookie is not a session', async () => {
    const h = harness()
    const { token } = await tokenUser(h)
    const response = await h.send('/auth/session', {
      headers: { cookie: `${SESSION_COOKIE}=${token.accessToken}` },
    })
    assert.equal(response.status, 401)
    assert.equal(await errorOf(response), 'unauthorized')
  })
})
