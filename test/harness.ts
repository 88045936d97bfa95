import type { LatchkeyOptions } from '../src/config.js'
import { argon2idHasher } from '../src/crypto/password-hasher.js'
import { createLatchkey, type Latchkey } from '../src/index.js'
import type { Store } from '../src/stores/contract.js'
import { memoryStore } from '../src/stores/memory.js'

export const ISSUER = 'https://auth.example.com'
export const ORIGIN = 'https://auth.example.com'
export const SECRET = 'test-secret-that-is-long-enough-for-hkdf-0123456789'
export const PASSWORD = 'correct horse battery staple'

/**
 * Cheap argon2id parameters so that suites with many logins stay fast; the default
 * (OWASP) parameters have tests of their own.
 */
export const fastHasher = argon2idHasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 })

/** A clock that only moves when told to. */
export function manualClock(start = Date.UTC(2026, 0, 1)) {
  let now = start
  const clock = () => now
  return Object.assign(clock, {
    advance(ms: number) {
      now += ms
    },
  })
}

/** The JSON body of every error response. */
export interface ErrorBody {
  error: string
  message: string
}

export type TestClock = ReturnType<typeof manualClock>

export interface Harness {
  latchkey: Latchkey
  store: Store
  clock: TestClock
  errors: unknown[]
  /** Sends a request to the handler as if from `ip`. */
  send(path: string, init?: RequestInit & { ip?: string }): Promise<Response>
}

/** A Latchkey over a memory store with a manual clock and a recording error logger. */
export function harness(options: Partial<LatchkeyOptions> = {}): Harness {
  const clock = manualClock()
  const store = options.store ?? memoryStore()
  const errors: unknown[] = []
  const latchkey = createLatchkey({
    store,
    issuer: ISSUER,
    secret: SECRET,
    clock,
    passwordHasher: fastHasher,
    logger: { error: (_message, error) => errors.push(error) },
    ...options,
  })
  return {
    latchkey,
    store,
    clock: (options.clock as TestClock | undefined) ?? clock,
    errors,
    send(path, init = {}) {
      const { ip = '203.0.113.7', ...rest } = init
      return latchkey.handler(new Request(new URL(path, ISSUER), rest), { remoteAddress: ip })
    },
  }
}

/** JSON POST headers as a same-origin browser page sends them. */
export function browserHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return {
    'content-type': 'application/json',
    origin: ORIGIN,
    'sec-fetch-site': 'same-origin',
    ...extra,
  }
}

/** A logged-in browser: its cookie header and CSRF token. */
export interface BrowserSession {
  cookie: string
  csrfToken: string
  sessionId: string
  userId: string
}

/** The `name=value` part of a response's session cookie. */
export function sessionCookieOf(response: Response): string {
  const setCookie = response.headers.getSetCookie().find((c) => c.startsWith('__Host-'))
  if (setCookie === undefined) throw new Error('no session cookie was set')
  return setCookie.split(';')[0]!
}

export async function signup(h: Harness, email: string, password = PASSWORD): Promise<Response> {
  return h.send('/auth/signup', {
    method: 'POST',
    headers: browserHeaders(),
    body: JSON.stringify({ email, password }),
  })
}

export async function login(
  h: Harness,
  email: string,
  password = PASSWORD,
  extra: Record<string, unknown> = {},
): Promise<BrowserSession> {
  const response = await h.send('/auth/login', {
    method: 'POST',
    headers: browserHeaders(),
    body: JSON.stringify({ email, password, mode: 'session', ...extra }),
  })
  if (response.status !== 200) throw new Error(`login failed: ${await response.text()}`)
  const body = (await response.json()) as {
    csrfToken: string
    session: { id: string }
    user: { id: string }
  }
  return {
    cookie: sessionCookieOf(response),
    csrfToken: body.csrfToken,
    sessionId: body.session.id,
    userId: body.user.id,
  }
}

/** Signs a new user up and logs them in. */
export async function newUser(h: Harness, email = `user-${Math.random()}@example.com`) {
  const response = await signup(h, email)
  if (response.status !== 201) throw new Error(`signup failed: ${await response.text()}`)
  return { email, session: await login(h, email) }
}

/** Headers of an authenticated, CSRF-proof request from the browser session. */
export function authed(session: BrowserSession, extra: Record<string, string> = {}) {
  return browserHeaders({ cookie: session.cookie, 'x-csrf-token': session.csrfToken, ...extra })
}

/** A token-mode login: the access token and what it stands for. */
export interface TokenLogin {
  accessToken: string
  expiresIn: number
  userId: string
  /** The `sid` of the token: its login's id, which is also the refresh family's. */
  loginId: string
  /** The family's first refresh token (`id.secret`). */
  refreshToken: string
}

/** Logs in with `mode: "token"` and returns the Bearer token. */
export async function tokenLogin(
  h: Harness,
  email: string,
  password = PASSWORD,
): Promise<TokenLogin> {
  const response = await h.send('/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password, mode: 'token' }),
  })
  if (response.status !== 200) throw new Error(`token login failed: ${await response.text()}`)
  const body = (await response.json()) as {
    access_token: string
    expires_in: number
    refresh_token: string
    user: { id: string }
  }
  const claims = JSON.parse(
    Buffer.from(body.access_token.split('.')[1]!, 'base64url').toString('utf8'),
  ) as { sid: string }
  return {
    accessToken: body.access_token,
    expiresIn: body.expires_in,
    userId: body.user.id,
    loginId: claims.sid,
    refreshToken: body.refresh_token,
  }
}

/** Headers of a request that carries a Bearer token (and nothing a browser would add). */
export function bearer(token: string, extra: Record<string, string> = {}) {
  return { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...extra }
}
