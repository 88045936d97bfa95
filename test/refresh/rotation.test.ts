import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import { bearer, harness, newUser } from '../harness.js'
import { DAY, SECOND, claimsOf, outcome, probe, refresh, refreshed, tokenUser } from './helpers.js'

describe('refresh rotation', () => {
  it('rotates on every use: a new refresh token and a new access token of the same sid', async () => {
    const { h, token } = await tokenUser()
    assert.match(token.refreshToken, /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/)
    h.clock.advance(60 * SECOND)
    const first = await refreshed(h, token.refreshToken)
    assert.equal(first.token_type, 'Bearer')
    assert.equal(first.expires_in, 600)
    assert.equal(first.user.id, token.userId)
    assert.ok(first.refresh_token !== undefined && first.refresh_token !== token.refreshToken)
    assert.notEqual(first.access_token, token.accessToken)
    assert.equal(claimsOf(first.access_token).sid, token.loginId)
    assert.deepEqual(await probe(h, first.access_token), [200, undefined])
    h.clock.advance(60 * SECOND)
    const second = await refreshed(h, first.refresh_token)
    assert.notEqual(second.refresh_token, first.refresh_token)
    assert.equal(claimsOf(second.access_token).sid, token.loginId)
    const parentId = token.refreshToken.split('.')[0]!
    const parent = await h.store.getRefreshToken(parentId)
    assert.equal(parent?.spentAt, h.clock() - 60 * SECOND)
    assert.equal(parent?.childId, first.refresh_token.split('.')[0])
  })

  it('carries the user’s current ver into the new access token', async () => {
    const { h, token } = await tokenUser()
    const ver = (await h.store.getUserById(token.userId))!.tokenVersion
    assert.equal(claimsOf((await refreshed(h, token.refreshToken)).access_token).ver, ver)
  })

  it('stores only the SHA-256 of the secret, never the token or the secret', async () => {
    const { h, token } = await tokenUser()
    const [id, secret] = token.refreshToken.split('.') as [string, string]
    const record = await h.store.getRefreshToken(id)
    assert.ok(record !== null)
    assert.equal(record.familyId, token.loginId)
    assert.deepEqual(Buffer.from(record.secretHash), createHash('sha256').update(secret).digest())
    assert.ok(!JSON.stringify({ ...record, secretHash: [...record.secretHash] }).includes(secret))
  })

  it('a wrong secret for a real id is invalid_refresh_token and spends nothing', async () => {
    const { h, token } = await tokenUser()
    const [id, secret] = token.refreshToken.split('.') as [string, string]
    const wrong = `${id}.${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`
    assert.deepEqual(await outcome(await refresh(h, wrong)), [401, 'invalid_refresh_token'])
    assert.equal((await h.store.getRefreshToken(id))?.spentAt, null)
    await refreshed(h, token.refreshToken)
  })
})

describe('refresh reuse detection', () => {
  it('outside the grace window a spent token revokes the whole family', async () => {
    const { h, token } = await tokenUser()
    const child = await refreshed(h, token.refreshToken)
    h.clock.advance(10 * SECOND)
    const reuse = await refresh(h, token.refreshToken)
    assert.equal(reuse.headers.get('www-authenticate')?.includes('refresh_token_reused'), true)
    assert.deepEqual(await outcome(reuse), [401, 'refresh_token_reused'])
    // The newest refresh token and every access token of the sid are dead.
    assert.deepEqual(await outcome(await refresh(h, child.refresh_token!)), [
      401,
      'invalid_refresh_token',
    ])
    assert.deepEqual(await probe(h, child.access_token), [401, 'token_revoked'])
    assert.deepEqual(await probe(h, token.accessToken), [401, 'token_revoked'])
    assert.equal((await h.store.getLogin(token.loginId))?.revokedAt, h.clock())
  })

  it('reuse of an older ancestor revokes the family too', async () => {
    const { h, token } = await tokenUser()
    const child = await refreshed(h, token.refreshToken)
    h.clock.advance(11 * SECOND)
    const grandchild = await refreshed(h, child.refresh_token!)
    h.clock.advance(11 * SECOND)
    assert.deepEqual(await outcome(await refresh(h, child.refresh_token!)), [
      401,
      'refresh_token_reused',
    ])
    assert.deepEqual(await probe(h, grandchild.access_token), [401, 'token_revoked'])
  })

  it('another family of the same user lives on', async () => {
    const { h, token } = await tokenUser()
    const other = await tokenUser(h)
    await refreshed(h, token.refreshToken)
    h.clock.advance(20 * SECOND)
    await refresh(h, token.refreshToken)
    assert.deepEqual(await probe(h, other.token.accessToken), [200, undefined])
    await refreshed(h, other.token.refreshToken)
  })

  it('inside the grace window the same parent gets the byte-identical child', async () => {
    const { h, token } = await tokenUser()
    const child = await refreshed(h, token.refreshToken)
    h.clock.advance(9 * SECOND)
    const again = await refreshed(h, token.refreshToken)
    assert.equal(again.refresh_token, child.refresh_token)
    assert.equal(claimsOf(again.access_token).sid, token.loginId)
    assert.deepEqual(await probe(h, again.access_token), [200, undefined])
    // The child still works, once: it is the only branch.
    const grandchild = await refreshed(h, child.refresh_token!)
    assert.notEqual(grandchild.refresh_token, child.refresh_token)
    const parentId = token.refreshToken.split('.')[0]!
    assert.equal(
      (await h.store.getRefreshToken(parentId))?.childId,
      child.refresh_token!.split('.')[0],
    )
  })

  it('the grace window is configurable; 0 turns every replay into reuse', async () => {
    const { h, token } = await tokenUser(harness({ tokens: { refresh: { graceMs: 0 } } }))
    await refreshed(h, token.refreshToken)
    assert.deepEqual(await outcome(await refresh(h, token.refreshToken)), [
      401,
      'refresh_token_reused',
    ])
  })
})

describe('refresh expiry', () => {
  it('rotation never extends the absolute expiry (30 days)', async () => {
    const { h, token } = await tokenUser()
    const login = await h.store.getLogin(token.loginId)
    assert.ok(login !== null)
    assert.equal(login.absoluteExpiresAt, login.createdAt + 30 * DAY)
    let current = token.refreshToken
    for (let day = 0; day < 29; day += 1) {
      h.clock.advance(DAY)
      current = (await refreshed(h, current)).refresh_token!
    }
    assert.equal(
      (await h.store.getLogin(token.loginId))?.absoluteExpiresAt,
      login.absoluteExpiresAt,
    )
    h.clock.advance(DAY)
    assert.deepEqual(await outcome(await refresh(h, current)), [401, 'invalid_refresh_token'])
  })

  it('an idle family expires after 7 days; activity pushes the idle expiry', async () => {
    const { h, token } = await tokenUser()
    h.clock.advance(7 * DAY - 1)
    const child = await refreshed(h, token.refreshToken)
    assert.equal((await h.store.getLogin(token.loginId))?.idleExpiresAt, h.clock() + 7 * DAY)
    h.clock.advance(7 * DAY)
    assert.deepEqual(await outcome(await refresh(h, child.refresh_token!)), [
      401,
      'invalid_refresh_token',
    ])
  })

  it('renews the family login at most once an hour, or a tenth of a shorter idle window', async () => {
    const MINUTE = 60 * SECOND
    const { h, token } = await tokenUser()
    const login = () => h.store.getLogin(token.loginId)
    const before = await login()
    h.clock.advance(59 * MINUTE)
    const child = await refreshed(h, token.refreshToken)
    assert.deepEqual(await login(), before)
    h.clock.advance(2 * MINUTE)
    const grandchild = await refreshed(h, child.refresh_token!)
    assert.equal((await login())?.lastSeenAt, h.clock())
    assert.equal((await login())?.idleExpiresAt, h.clock() + 7 * DAY)
    // Each answer's access token names the same login, renewed or not.
    assert.equal(claimsOf(child.access_token).sid, token.loginId)
    assert.equal(claimsOf(grandchild.access_token).sid, token.loginId)

    const short = await tokenUser(
      harness({ tokens: { refresh: { idleMs: 60 * MINUTE, absoluteMs: 2 * 60 * MINUTE } } }),
    )
    const shortLogin = () => short.h.store.getLogin(short.token.loginId)
    short.h.clock.advance(5 * MINUTE)
    const next = await refreshed(short.h, short.token.refreshToken)
    assert.equal((await shortLogin())?.lastSeenAt, short.h.clock() - 5 * MINUTE)
    short.h.clock.advance(2 * MINUTE)
    await refreshed(short.h, next.refresh_token!)
    assert.equal((await shortLogin())?.idleExpiresAt, short.h.clock() + 60 * MINUTE)
  })

  it('honours configured lifetimes and refuses bad ones', async () => {
    const { h, token } = await tokenUser(
      harness({ tokens: { refresh: { idleMs: 3600_000, absoluteMs: 2 * 3600_000 } } }),
    )
    h.clock.advance(3600_000)
    assert.deepEqual(await outcome(await refresh(h, token.refreshToken)), [
      401,
      'invalid_refresh_token',
    ])
    assert.throws(() => harness({ tokens: { refresh: { idleMs: 10 } } }), /tokens\.refresh/)
    assert.throws(
      () => harness({ tokens: { refresh: { idleMs: DAY, absoluteMs: DAY - 1 } } }),
      /tokens\.refresh/,
    )
    assert.throws(() => harness({ tokens: { refresh: { graceMs: -1 } } }), /graceMs/)
    assert.throws(() => harness({ tokens: { refresh: { graceMs: 61_000 } } }), /graceMs/)
  })
})

describe('token kinds do not mix', () => {
  it('an access token sent to /auth/refresh is invalid_refresh_token', async () => {
    const { h, token } = await tokenUser()
    assert.deepEqual(await outcome(await refresh(h, token.accessToken)), [
      401,
      'invalid_refresh_token',
    ])
  })

  it('a refresh token sent as Bearer is invalid_token', async () => {
    const { h, token } = await tokenUser()
    const response = await h.send('/auth/session', { headers: bearer(token.refreshToken) })
    assert.deepEqual(await outcome(response), [401, 'invalid_token'])
  })

  it('a refresh token is not a session cookie', async () => {
    const { h, token } = await tokenUser()
    const response = await h.send('/auth/session', {
      headers: { cookie: `__Host-latchkey-session=${token.refreshToken}` },
    })
    assert.equal(response.status, 401)
  })

  it('a session login cannot be refreshed with its session token', async () => {
    const h = harness()
    const { session } = await newUser(h)
    const value = session.cookie.split('=')[1]!
    assert.deepEqual(await outcome(await refresh(h, value)), [401, 'invalid_refresh_token'])
  })
})
