import assert from 'node:assert/strict'
import { bearer, harness, signup, tokenLogin } from '../harness.js'
import type { ErrorBody, Harness, TokenLogin } from '../harness.js'

/** The body of a successful refresh (or token-mode login). */
export interface TokenBody {
  token_type: string
  access_token: string
  expires_in: number
  refresh_token?: string
  user: { id: string }
}

/** A harness with a user logged in in token mode. */
export async function tokenUser(h: Harness = harness()): Promise<{
  h: Harness
  email: string
  token: TokenLogin
}> {
  const email = `refresh-${Math.random()}@example.com`
  assert.equal((await signup(h, email)).status, 201)
  return { h, email, token: await tokenLogin(h, email) }
}

/** `POST /auth/refresh` with the token in a JSON body, as a native client sends it. */
export function refresh(h: Harness, refreshToken: string): Promise<Response> {
  return h.send('/auth/refresh', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refresh_token: refreshToken }),
  })
}

/** A refresh that must succeed; returns its body. */
export async function refreshed(h: Harness, refreshToken: string): Promise<TokenBody> {
  const response = await refresh(h, refreshToken)
  assert.equal(response.status, 200, await response.clone().text())
  return (await response.json()) as TokenBody
}

/** The status and error code of a response. */
export async function outcome(response: Response): Promise<[number, string | undefined]> {
  const text = await response.text()
  const body = text === '' ? {} : (JSON.parse(text) as Partial<ErrorBody>)
  return [response.status, body.error]
}

/** The status and error code of GET /auth/session with this access token. */
export async function probe(h: Harness, accessToken: string) {
  return outcome(await h.send('/auth/session', { headers: bearer(accessToken) }))
}

/** The claims of an access token, unverified. */
export function claimsOf(token: string): { sid: string; ver: number; jti: string; sub: string } {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as {
    sid: string
    ver: number
    jti: string
    sub: string
  }
}

export const SECOND = 1000
export const DAY = 24 * 3600 * SECOND
