import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { outcome, tokenUser } from './helpers.js'

interface Case {
  name: string
  /** The raw body; none when absent. */
  body?: string
  /** Default `application/json` when there is a body. */
  type?: string
  status: number
  code: string
}

const token = (value: unknown) => JSON.stringify({ refresh_token: value })

const cases: Case[] = [
  { name: 'no body and no cookie', status: 401, code: 'invalid_refresh_token' },
  { name: 'an empty JSON object', body: '{}', status: 401, code: 'invalid_refresh_token' },
  { name: 'malformed JSON', body: '{"refresh_token":', status: 400, code: 'invalid_request' },
  { name: 'a JSON array', body: '[]', status: 400, code: 'invalid_request' },
  { name: 'a number', body: token(42), status: 400, code: 'invalid_request' },
  { name: 'null', body: token(null), status: 400, code: 'invalid_request' },
  { name: 'an empty string', body: token(''), status: 401, code: 'invalid_refresh_token' },
  {
    name: 'a 5000-character string',
    body: token('a'.repeat(5000)),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'a body too large',
    body: token('a'.repeat(20_000)),
    status: 413,
    code: 'payload_too_large',
  },
  {
    name: 'form encoding',
    body: 'refresh_token=x',
    type: 'application/x-www-form-urlencoded',
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'three segments',
    body: token('not.a.token'),
    status: 401,
    code: 'invalid_refresh_token',
  },
  {
    name: 'an unknown id',
    body: token(`${'A'.repeat(22)}.${'B'.repeat(43)}`),
    status: 401,
    code: 'invalid_refresh_token',
  },
  {
    name: 'SQL in the id',
    body: token("' or 1=1 --.x"),
    status: 401,
    code: 'invalid_refresh_token',
  },
  {
    name: 'a prototype key',
    body: '{"__proto__":{"refresh_token":"x"}}',
    status: 400,
    code: 'invalid_request',
  },
]

describe('bad input on /auth/refresh', () => {
  for (const { name, body, type, status, code } of cases) {
    it(`${name} → ${status} ${code}, nothing written, never a 500`, async () => {
      const { h, token } = await tokenUser()
      const headers: Record<string, string> =
        body === undefined ? {} : { 'content-type': type ?? 'application/json' }
      const response = await h.send('/auth/refresh', { method: 'POST', headers, body })
      assert.deepEqual(await outcome(response), [status, code])
      const id = token.refreshToken.split('.')[0]!
      assert.equal((await h.store.getRefreshToken(id))?.spentAt, null)
      assert.equal((await h.store.getLogin(token.loginId))?.revokedAt, null)
      assert.equal(h.errors.length, 0)
    })
  }

  it('GET /auth/refresh is 405, never a state change', async () => {
    const { h } = await tokenUser()
    const response = await h.send('/auth/refresh')
    assert.deepEqual(await outcome(response), [405, 'method_not_allowed'])
    assert.equal(response.headers.get('allow'), 'POST')
  })
})
