import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { createVerifier } from '../../src/verify/index.js'
import { freePort, runCli, startCli, tempDataDir, type ServerProcess } from './process.js'

const PASSWORD = 'correct horse battery staple'
const SECRET = 'e2e-secret-that-is-long-enough-for-hkdf-0123456789'

async function post(base: string, path: string, body: unknown): Promise<Response> {
  return fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
}

/** Signs a new user up on the real server and logs in with `mode: "token"`. */
async function accessToken(base: string): Promise<string> {
  const email = `e2e-${Math.random()}@example.com`
  assert.equal((await post(base, '/auth/signup', { email, password: PASSWORD })).status, 201)
  const response = await post(base, '/auth/login', { email, password: PASSWORD, mode: 'token' })
  assert.equal(response.status, 200)
  return ((await response.json()) as { access_token: string }).access_token
}

for (const alg of ['EdDSA', 'ES256', 'RS256'] as const) {
  describe(`interop with the real server: ${alg}`, () => {
    let server: ServerProcess
    let issuer: string

    before(async () => {
      const port = await freePort()
      issuer = `http://127.0.0.1:${port}`
      server = await startCli({
        PORT: String(port),
        LATCHKEY_DATA_DIR: await tempDataDir(),
        LATCHKEY_SECRET: SECRET,
        LATCHKEY_ISSUER: issuer,
        LATCHKEY_JWT_ALG: alg,
        LATCHKEY_AUDIENCE: 'https://api.example.com',
      })
    })
    after(() => server.stop())

    it('a token verifies with jose createRemoteJWKSet + jwtVerify', async () => {
      const token = await accessToken(issuer)
      const jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`))
      const { payload, protectedHeader } = await jwtVerify(token, jwks, {
        issuer,
        audience: 'https://api.example.com',
        typ: 'at+jwt',
        algorithms: [alg],
      })
      assert.equal(protectedHeader.alg, alg)
      assert.equal(typeof payload.sid, 'string')
    })

    it('a token verifies with latchkey/verify against the served JWKS', async () => {
      const token = await accessToken(issuer)
      const discovery = (await (
        await fetch(`${issuer}/.well-known/openid-configuration`)
      ).json()) as { jwks_uri: string; issuer: string }
      const verifier = createVerifier({
        jwksUrl: discovery.jwks_uri,
        issuer: discovery.issuer,
        audience: 'https://api.example.com',
      })
      const claims = await verifier.verify(token)
      assert.equal(claims.iss, issuer)
      await assert.rejects(verifier.verify(`${token}x`), { code: 'invalid_token' })
    })
  })
}

describe('latchkey keys', () => {
  it('keys rotate, then keys list shows two keys and no private material', async () => {
    const env = { LATCHKEY_DATA_DIR: await tempDataDir(), LATCHKEY_SECRET: SECRET }
    const rotated = await runCli(['keys', 'rotate'], env)
    assert.equal(rotated.code, 0, rotated.stderr)
    const listed = await runCli(['keys', 'list'], env)
    assert.equal(listed.code, 0, listed.stderr)
    const rows = listed.stdout.trim().split('\n').slice(1)
    assert.equal(rows.length, 2)
    const statuses = rows.map((row) => row.split('\t')[2]).sort()
    assert.deepEqual(statuses, ['pending', 'signing'])
    assert.doesNotMatch(listed.stdout, /v1\.|"d"|PRIVATE/)
  })

  it('an unknown keys command and a bad algorithm are refused with a clear message', async () => {
    const env = { LATCHKEY_DATA_DIR: await tempDataDir(), LATCHKEY_SECRET: SECRET }
    const unknown = await runCli(['keys', 'burn'], env)
    assert.equal(unknown.code, 2)
    const bad = await runCli(['keys', 'list'], { ...env, LATCHKEY_JWT_ALG: 'none' })
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /LATCHKEY_JWT_ALG must be one of/)
    const hs = await runCli(['keys', 'list'], { ...env, LATCHKEY_JWT_ALG: 'HS256' })
    assert.match(hs.stderr, /LATCHKEY_HS256_SECRET of at least 32 bytes/)
  })
})
