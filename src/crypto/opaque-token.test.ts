import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { issueOpaqueToken, parseOpaqueToken, randomId } from './opaque-token.js'

describe('randomId', () => {
  test('is 22 base64url characters: 128 bits, no padding', () => {
    for (let i = 0; i < 600; i++) assert.match(randomId(), /^[A-Za-z0-9_-]{22}$/)
  })

  // The ids come from a pool refilled every 256 ids: a run this long crosses several
  // refills, and a pool reused instead of refilled would repeat ids.
  test('never repeats, across refills of its pool', () => {
    const ids = Array.from({ length: 2000 }, randomId)
    assert.equal(new Set(ids).size, ids.length)
  })
})

describe('issueOpaqueToken', () => {
  test('issues id.secret, which parses back into its parts', () => {
    const issued = issueOpaqueToken()
    assert.deepEqual(parseOpaqueToken(issued.token), {
      id: issued.id,
      secret: issued.token.slice(issued.id.length + 1),
    })
  })
})
