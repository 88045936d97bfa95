import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parse } from 'cookie'
import { REFRESH_COOKIE, SESSION_COOKIE, soleCookie } from './cookies.js'

const trimmed = (text: string) => text.replace(/^[ \t]+|[ \t]+$/g, '')

/**
 * What `soleCookie` must answer, written the slow, obvious way: count the pairs that carry
 * the name, then let `cookie`'s `parse` read the value.
 */
function expected(header: string, name: string): string | null {
  if (header.length > 8192) return null
  const carrying = header.split(';').filter((pair) => {
    const eq = pair.indexOf('=')
    return eq !== -1 && trimmed(pair.slice(0, eq)) === name
  })
  if (carrying.length !== 1) return null
  const value = parse(header)[name]
  return value === undefined || value === '' ? null : value
}

/** A deterministic stream of numbers in [0, 1) (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  let state = seed
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// What headers are made of: the names and their near misses, the blanks `parse` trims and
// the ones it keeps, separators, and values with percent escapes good and bad.
const NAMES = [SESSION_COOKIE, REFRESH_COOKIE, `${SESSION_COOKIE}x`, `x${SESSION_COOKIE}`, 'a', '']
const BLANKS = ['', '', ' ', '\t', ' \t', '\u00a0', '\n']
const VALUES = ['', 'token.secret_1-2', 'a=b', '"q"', '%41', '%', '%zz', '%E2%82%AC', '%E2%82', ',']
const SEPARATORS = [';', '; ', ';;', ' ; ', ';\t', '; flag; ']

/** A header of 1 to 5 pairs, some without "=", each name and value among blanks. */
function header(next: () => number): string {
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!
  const pairs: string[] = []
  for (let count = 1 + Math.floor(next() * 5); count > 0; count -= 1) {
    const name = `${pick(BLANKS)}${pick(NAMES)}${pick(BLANKS)}`
    pairs.push(next() < 0.1 ? name : `${name}=${pick(BLANKS)}${pick(VALUES)}${pick(BLANKS)}`)
  }
  return pairs.reduce((joined, pair) => `${joined}${pick(SEPARATORS)}${pair}`)
}

describe('soleCookie', () => {
  it('answers as counting the name, then cookie.parse, over 50 000 generated headers', () => {
    const next = random(20261201)
    let read = 0
    let twice = 0
    for (let round = 0; round < 50_000; round += 1) {
      const sent = header(next)
      for (const name of [SESSION_COOKIE, REFRESH_COOKIE]) {
        const answer = soleCookie(sent, name)
        assert.equal(answer, expected(sent, name), `${JSON.stringify(sent)} for ${name}`)
        if (answer !== null) read += 1
        if (answer === null && parse(sent)[name]) twice += 1
      }
    }
    // The headers reach both outcomes often: a value read, and a name sent twice refused.
    assert.ok(read > 5_000 && twice > 1_000, `read ${read}, refused as repeated ${twice}`)
  })

  it('reads the value among other cookies, trimmed and percent-decoded', () => {
    const name = SESSION_COOKIE
    assert.equal(soleCookie(`theme=dark; ${name}=abc.def; lang=en`, name), 'abc.def')
    assert.equal(soleCookie(`${name} \t= \tabc \t`, name), 'abc')
    assert.equal(soleCookie(`${name}=a%20b`, name), 'a b')
    assert.equal(soleCookie(`${name}=a%zzb`, name), 'a%zzb')
    assert.equal(soleCookie(`${name}=a=b`, name), 'a=b')
    assert.equal(soleCookie(`flag; other; ${name}=v`, name), 'v')
  })

  it('refuses a name sent twice, whichever value comes first', () => {
    const name = SESSION_COOKIE
    assert.equal(soleCookie(`${name}=a; ${name}=b`, name), null)
    assert.equal(soleCookie(`${name}=a;${name}=a`, name), null)
    assert.equal(soleCookie(`${name}=; ${name}=b`, name), null)
    assert.equal(soleCookie(`x=1; ${name}=a; y=2; \t${name} =b`, name), null)
  })

  it('finds nothing in an absent, empty, foreign or oversized header', () => {
    const name = SESSION_COOKIE
    assert.equal(soleCookie(null, name), null)
    assert.equal(soleCookie('', name), null)
    assert.equal(soleCookie(`${name}=`, name), null)
    assert.equal(soleCookie(`${name}= \t`, name), null)
    assert.equal(soleCookie(`x${name}=a; ${name}x=b; ${name}`, name), null)
    assert.equal(soleCookie(`${name}=${'a'.repeat(8200)}`, name), null)
  })

  it('reads a header of many pairs without "=" to the end', () => {
    const name = SESSION_COOKIE
    assert.equal(soleCookie(`${';'.repeat(8000)}${name}=v`, name), 'v')
    assert.equal(soleCookie(`${'a;'.repeat(4000)}${name}=v;${'b;'.repeat(40)}`, name), 'v')
  })
})
