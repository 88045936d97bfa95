/*
 * SECURITY.md "Access tokens": the strict compact form (three canonical base64url
 * segments, JSON objects in valid UTF-8, a size limit) and `crit` / `b64`.
 * Each forged token is correctly signed, so only the property under test can fail.
 */
import { describe, test } from 'node:test'
import { issueOpaqueToken } from '../crypto/opaque-token.js'
import {
  assertAuthError,
  claims,
  forgeSegments,
  header,
  keyringFor,
  segment,
  signedWith,
  verifierFor,
} from './fixtures.test.js'
import { signBytes } from './signature.js'

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

describe('compact form', async () => {
  const { keyring, key } = await keyringFor('EdDSA')
  const verify = verifierFor(keyring)
  const sign = (input: Buffer) => signBytes(key.alg, key.privateKey, input)
  // A signature with a "-" or "_" in it, so that the base64 variant below has something to
  // change: about one random Ed25519 signature in 15 has neither.
  let good = signedWith(key, header(key), claims())
  for (let i = 0; !/[-_]/.test(good.split('.')[2]!); i++) {
    good = signedWith(key, header(key), claims({ jti: `jti-${i}` }))
  }
  const [h, p, s] = good.split('.') as [string, string, string]

  const malformed: [string, string][] = [
    ['one segment', h],
    ['two segments', `${h}.${p}`],
    ['four segments', `${good}.${s}`],
    ['four segments with an empty last one', `${good}.`],
    ['only dots', '..'],
    ['an empty string', ''],
    ['an empty header segment', forgeSegments('', p, sign)],
    ['an empty payload segment', forgeSegments(h, '', sign)],
  ]
  for (const [name, token] of malformed) {
    test(`${name} is rejected`, () => assertAuthError(() => verify(token), 'invalid_token'))
  }

  for (const [name, value] of [
    ['undefined', undefined],
    ['a number', 42],
    ['null', null],
    ['a Buffer', Buffer.from(good)],
    ['an object', { token: good }],
  ] as const) {
    test(`${name} instead of a string is rejected`, () => {
      assertAuthError(() => verify(value), 'invalid_token', /must be a string/)
    })
  }

  const variants: [string, string][] = [
    ['padding on the header', forgeSegments(`${padded(h)}`, p, sign)],
    ['padding on the payload', forgeSegments(h, `${padded(p)}`, sign)],
    ['padding on the signature', `${h}.${p}.${s}==`],
    ['a leading space', ` ${good}`],
    ['a trailing newline', `${good}\n`],
    ['a space inside the payload', forgeSegments(h, `${p.slice(0, 10)} ${p.slice(10)}`, sign)],
    ['a tab inside the signature', `${h}.${p}.${s.slice(0, 20)}\t${s.slice(20)}`],
    ['base64 (+ and /) instead of base64url', `${h}.${p}.${toStandardBase64(s)}`],
    [
      'a non-canonical last character (header)',
      forgeSegments(nonCanonical(segment(withUnusedBits(header(key)))), p, sign),
    ],
    [
      'a non-canonical last character (payload)',
      forgeSegments(h, nonCanonical(segment(withUnusedBits(claims()))), sign),
    ],
    ['a non-canonical last character (signature)', `${h}.${p}.${nonCanonical(s)}`],
    ['a non-ASCII character', forgeSegments(h, `${p}é`, sign)],
  ]
  for (const [name, token] of variants) {
    test(`${name} is rejected`, () => {
      assertAuthError(() => verify(token), 'invalid_token', /canonical unpadded base64url/)
    })
  }

  for (const [name, value] of [
    ['an array', [header(key)]],
    ['a number', 1],
    ['a string', 'EdDSA'],
    ['null', null],
    ['true', true],
  ] as const) {
    test(`a header that is ${name} is rejected`, () => {
      const token = forgeSegments(segment(value), p, sign)
      assertAuthError(() => verify(token), 'invalid_token', /header is not a JSON object/)
    })
    test(`a payload that is ${name} is rejected`, () => {
      const token = forgeSegments(h, segment(value), sign)
      assertAuthError(() => verify(token), 'invalid_token', /payload is not a JSON object/)
    })
  }

  const headerJson = JSON.stringify(header(key))
  const payloadJson = JSON.stringify(claims())
  const badBytes: [string, Buffer][] = [
    ['an invalid byte 0xff', Buffer.from([0xff])],
    ['an overlong encoding of "/"', Buffer.from([0xc0, 0xaf])],
    ['an encoded lone surrogate', Buffer.from([0xed, 0xa0, 0x80])],
    ['a truncated sequence', Buffer.from([0xe2, 0x82])],
  ]
  for (const [name, bytes] of badBytes) {
    test(`a header with ${name} (invalid UTF-8) is rejected`, () => {
      const token = forgeSegments(segment(withBytes(headerJson, bytes)), p, sign)
      assertAuthError(() => verify(token), 'invalid_token', /header is not JSON in valid UTF-8/)
    })
    test(`a payload with ${name} (invalid UTF-8) is rejected`, () => {
      const token = forgeSegments(h, segment(withBytes(payloadJson, bytes)), sign)
      assertAuthError(() => verify(token), 'invalid_token', /payload is not JSON in valid UTF-8/)
    })
  }

  test('a header with a byte-order mark is rejected', () => {
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(headerJson)])
    const token = forgeSegments(segment(bom), p, sign)
    assertAuthError(() => verify(token), 'invalid_token', /header is not JSON/)
  })

  test('a payload with trailing garbage after the JSON is rejected', () => {
    const token = forgeSegments(h, segment(Buffer.from(`${payloadJson}x`)), sign)
    assertAuthError(() => verify(token), 'invalid_token', /payload is not JSON/)
  })

  test('a token over 8 KiB is rejected unread', () => {
    const token = signedWith(key, header(key), claims({ pad: 'x'.repeat(8 * 1024) }))
    assertAuthError(() => verify(token), 'invalid_token', /longer than 8192 bytes/)
  })

  test('a configured smaller size limit applies', () => {
    const small = verifierFor(keyring, { maxTokenBytes: 300 })
    assertAuthError(() => small(good), 'invalid_token', /longer than 300 bytes/)
  })

  test('an opaque id.secret token is not an access token', () => {
    const { token } = issueOpaqueToken()
    assertAuthError(() => verify(token), 'invalid_token', /three/)
  })

  test('an opaque token with a third part glued on is not an access token', () => {
    const { token } = issueOpaqueToken()
    assertAuthError(() => verify(`${token}.${s}`), 'invalid_token')
  })
})

describe('crit and b64', async () => {
  const { keyring, key } = await keyringFor('EdDSA')
  const verify = verifierFor(keyring)
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['crit naming an unknown parameter', { crit: ['urn:example:x'], 'urn:example:x': 1 }, /crit/],
    ['crit naming a missing parameter', { crit: ['nope'] }, /crit/],
    ['crit naming a registered claim', { crit: ['exp'] }, /crit/],
    ['an empty crit list', { crit: [] }, /crit/],
    ['crit that is not a list', { crit: 'b64' }, /crit/],
    ['b64: false with crit', { b64: false, crit: ['b64'] }, /crit/],
    ['b64: false without crit', { b64: false }, /b64/],
    ['b64: true', { b64: true }, /b64/],
  ]
  for (const [name, extra, message] of cases) {
    test(`${name} is rejected`, () => {
      const token = signedWith(key, header(key, extra), claims())
      assertAuthError(() => verify(token), 'invalid_token', message)
    })
  }
})

/** Two "=" appended, as a padding-tolerant encoder would. */
function padded(segmentText: string): string {
  return `${segmentText}${'='.repeat((4 - (segmentText.length % 4)) % 4 || 2)}`
}

function toStandardBase64(segmentText: string): string {
  const replaced = segmentText.replaceAll('-', '+').replaceAll('_', '/')
  if (replaced === segmentText) throw new Error('fixture: no - or _ to replace')
  return replaced
}

/** The same bytes, but the last character's unused low bits set: lax decoders accept it. */
function nonCanonical(segmentText: string): string {
  if (segmentText.length % 4 < 2) throw new Error('fixture: this length has no unused bits')
  const last = ALPHABET.indexOf(segmentText.at(-1)!)
  return segmentText.slice(0, -1) + ALPHABET[last ^ 1]
}

/** An object whose JSON is 1 byte past a multiple of 3, so its base64url has unused bits. */
function withUnusedBits(value: Record<string, unknown>): Record<string, unknown> {
  let filler = ''
  while (JSON.stringify({ ...value, filler }).length % 3 !== 1) filler += 'x'
  return { ...value, filler }
}

/** The JSON text with raw bytes spliced in just before its final `"}`-style end. */
function withBytes(json: string, bytes: Buffer): Buffer {
  const cut = json.lastIndexOf('"')
  return Buffer.concat([Buffer.from(json.slice(0, cut)), bytes, Buffer.from(json.slice(cut))])
}
