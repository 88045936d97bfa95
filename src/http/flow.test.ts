import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { authed, harness, login, newUser } from '../../test/harness.js'

describe('the session flow through the handler', () => {
  it('signs up, logs in, lists, revokes one and changes the password', async () => {
    const h = harness()
    const { email, session: first } = await newUser(h, 'Flow@Example.com')
    const second = await login(h, 'flow@example.com')

    const me = await h.send('/auth/session', { headers: { cookie: first.cookie } })
    assert.equal(me.status, 200)
    const meBody = (await me.json()) as { user: { email: string }; session: { id: string } }
    assert.equal(meBody.user.email, email)
    assert.equal(meBody.session.id, first.sessionId)

    const list = await h.send('/auth/sessions', { headers: { cookie: first.cookie } })
    const { sessions } = (await list.json()) as { sessions: { id: string; current: boolean }[] }
    assert.deepEqual(
      sessions.map((s) => [s.id, s.current]).sort(),
      [
        [first.sessionId, true],
        [second.sessionId, false],
      ].sort(),
    )

    const revoke = await h.send(`/auth/sessions/${second.sessionId}`, {
      method: 'DELETE',
      headers: authed(first),
    })
    assert.equal(revoke.status, 204)
    const revoked = await h.send('/auth/session', { headers: { cookie: second.cookie } })
    assert.equal(revoked.status, 401)
    assert.equal(((await revoked.json()) as { error: string }).error, 'session_revoked')
    assert.match(revoked.headers.get('www-authenticate') ?? '', /^Bearer realm=/)

    const third = await login(h, email)
    const change = await h.send('/auth/password', {
      method: 'POST',
      headers: authed(first),
      body: JSON.stringify({
        currentPassword: 'correct horse battery staple',
        newPassword: 'a new and longer passphrase',
      }),
    })
    assert.equal(change.status, 200, await change.clone().text())
    for (const old of [first, third]) {
      const after = await h.send('/auth/session', { headers: { cookie: old.cookie } })
      assert.equal(after.status, 401)
    }
    assert.deepEqual(h.errors, [])
  })
})
