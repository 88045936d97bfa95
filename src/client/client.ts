import { ClientError, errorOf } from './errors.js'
import type { StoredTokens, TokenStorage } from './storage.js'
import { memoryStorage } from './storage.js'

/** The subset of the Web Locks API the client uses (`navigator.locks` in browsers). */
export interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>
}

/** Why the session ended without `logout()`: the server's code for the refused token. */
export type LogoutReason = string

/** The user as the server describes it in token responses. */
export type ClientUser = Record<string, unknown> & { id: string; email: string }

/** Options of `createClient`. */
export interface ClientOptions {
  /** Latchkey's origin, e.g. `https://auth.example.com`; relative `fetch` paths resolve against it. */
  baseUrl: string
  /** The fetch to use; the global one by default. */
  fetch?: typeof fetch
  /** Where tokens live; in memory by default. */
  storage?: TokenStorage
  /** Milliseconds since the epoch; `Date.now` by default. */
  clock?: () => number
  /** Refresh this many seconds before the access token expires (default 30). */
  refreshMarginSeconds?: number
  /** Called once when the session dies on its own (revoked, reused, expired), not on `logout()`. */
  onLogout?: (reason: LogoutReason) => void
  /** `cookie` for browsers: the refresh token stays in an HttpOnly cookie (default `body`). */
  transport?: 'body' | 'cookie'
  /** Cross-tab single flight; `globalThis.navigator?.locks` when present. `null` turns it off. */
  locks?: LockManagerLike | null
  /** The Web Lock's name (default `latchkey-refresh:<baseUrl>`). */
  lockName?: string
}

/** What `client.session()` tells about the current session. */
export interface ClientSession {
  accessExpiresAt: number
  /** The user from the last login or refresh of this client instance, if any. */
  user: ClientUser | null
}

/**
 * A Latchkey client: login, logout and a `fetch` that carries and refreshes the access token.
 * Its functions do not use `this`, so `const { fetch } = client` works.
 */
export interface LatchkeyClient {
  /** Token-mode login; rejects with a `ClientError` (`invalid_credentials`, `rate_limited`, …). */
  login: (email: string, password: string) => Promise<ClientUser>
  /** Ends the login at the server (`local`, `others` or `global`) and forgets the tokens. */
  logout: (scope?: 'local' | 'others' | 'global') => Promise<void>
  /**
   * `fetch` with `Authorization: Bearer`, refreshed before expiry and once after a 401.
   * Strings resolve against `baseUrl`; the token goes to every URL given, so only your APIs.
   */
  fetch: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>
  /** A valid access token (refreshed when due), or `null` when signed out. */
  accessToken: () => Promise<string | null>
  /** The stored session, or `null` when signed out. */
  session: () => Promise<ClientSession | null>
}

interface TokenBody {
  access_token: string
  expires_in: number
  refresh_token?: string
  user: ClientUser
}

/** Creates a client; it runs in browsers, Node 20+ and React Native (fetch only, no Node APIs). */
export function createClient(options: ClientOptions): LatchkeyClient {
  const baseUrl = options.baseUrl
  const fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  const storage = options.storage ?? memoryStorage()
  const clock = options.clock ?? (() => Date.now())
  const marginMs = (options.refreshMarginSeconds ?? 30) * 1000
  const transport = options.transport ?? 'body'
  const locks = options.locks === undefined ? defaultLocks() : options.locks
  const lockName = options.lockName ?? `latchkey-refresh:${baseUrl}`
  // Cookies are sent on the auth routes only when the refresh cookie is the credential.
  const credentials: RequestCredentials = transport === 'cookie' ? 'include' : 'same-origin'

  let user: ClientUser | null = null
  let inflight: Promise<StoredTokens | null> | null = null
  // The access token whose session was last ended: concurrent failures report it once.
  let endedFor: string | null = null

  const url = (path: string) => new URL(path, baseUrl).toString()
  const due = (tokens: StoredTokens) => clock() >= tokens.accessExpiresAt - marginMs

  async function store(body: TokenBody): Promise<StoredTokens> {
    const tokens: StoredTokens = {
      accessToken: body.access_token,
      accessExpiresAt: clock() + body.expires_in * 1000,
    }
    if (transport === 'body' && body.refresh_token !== undefined) {
      tokens.refreshToken = body.refresh_token
    }
    user = body.user
    await storage.set(tokens)
    return tokens
  }

  async function end(reason: LogoutReason, failed: StoredTokens): Promise<void> {
    if (endedFor === failed.accessToken) return
    endedFor = failed.accessToken
    // Another tab or client over the same storage may have moved on already: keep its session.
    const current = await storage.get()
    if (current !== null && current.accessToken !== failed.accessToken) return
    user = null
    await storage.remove()
    options.onLogout?.(reason)
  }

  async function rotate(stale: StoredTokens): Promise<StoredTokens | null> {
    // Re-read first: under the lock, another tab may have refreshed while this one waited.
    const current = await storage.get()
    if (current === null) return null
    if (current.accessToken !== stale.accessToken && !due(current)) return current
    if (transport === 'body' && current.refreshToken === undefined) {
      await end('invalid_refresh_token', current)
      return null
    }
    const response = await fetchImpl(url('/auth/refresh'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(transport === 'body' ? { refresh_token: current.refreshToken } : {}),
      credentials,
    })
    if (response.ok) return store(await tokenBody(response))
    const error = await errorOf(response)
    // Any 401 here means the refresh token is spent for good: the family is dead.
    if (response.status === 401) {
      await end(error.code, current)
      return null
    }
    // 429, 503, a proxy's 502: transient, the session stays and the caller sees the error.
    throw error
  }

  /** One refresh at a time per client, and per lock name across tabs. */
  function refresh(stale: StoredTokens): Promise<StoredTokens | null> {
    if (inflight === null) {
      const run = () => rotate(stale)
      inflight = (locks === null ? run() : locks.request(lockName, run)).finally(() => {
        inflight = null
      })
    }
    return inflight
  }

  async function fresh(): Promise<StoredTokens | null> {
    const tokens = await storage.get()
    if (tokens === null) return null
    return due(tokens) ? refresh(tokens) : tokens
  }

  function send(input: RequestInfo | URL, init: RequestInit | undefined, token: string) {
    const request = typeof input === 'string' ? url(input) : input
    const headers = new Headers(init?.headers ?? (isRequest(input) ? input.headers : undefined))
    headers.set('authorization', `Bearer ${token}`)
    return fetchImpl(request, { ...init, headers })
  }

  return {
    async login(email, password) {
      const response = await fetchImpl(url('/auth/login'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password, mode: 'token', transport }),
        credentials,
      })
      if (!response.ok) throw await errorOf(response)
      const body = await tokenBody(response)
      await store(body)
      return body.user
    },

    async logout(scope = 'local') {
      try {
        const tokens = await fresh()
        if (tokens === null) return
        const response = await fetchImpl(url('/auth/logout'), {
          method: 'POST',
          headers: {
            authorization: `Bearer ${tokens.accessToken}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify({ scope }),
          credentials,
        })
        // A 401 means the login is already over; anything else is worth reporting.
        if (!response.ok && response.status !== 401) throw await errorOf(response)
      } finally {
        // Forget the tokens even when the server could not be told: the user asked to leave.
        user = null
        await storage.remove()
      }
    },

    async fetch(input, init) {
      const tokens = await fresh()
      if (tokens === null) throw new ClientError('not_signed_in', 'There is no session.')
      // A Request's body can be read once: keep a copy for the retry. A ReadableStream in
      // `init.body` cannot be replayed at all, so its 401 goes back to the caller as is.
      const replay = isRequest(input) ? input.clone() : input
      const response = await send(input, init, tokens.accessToken)
      if (!refusedToken(response) || isStream(init?.body)) return response
      const renewed = await refresh(tokens)
      if (renewed === null) return response
      const retried = await send(replay, init, renewed.accessToken)
      if (refusedToken(retried)) {
        const error = await errorOf(retried.clone())
        await end(error.code, renewed)
      }
      return retried
    },

    async accessToken() {
      return (await fresh())?.accessToken ?? null
    },

    async session() {
      const tokens = await storage.get()
      return tokens === null ? null : { accessExpiresAt: tokens.accessExpiresAt, user }
    },
  }
}

/**
 * A 401 that refuses the token presented (RFC 6750 `error="invalid_token"`), as opposed to a
 * 401 about something else, such as a wrong current password: only the former is retried.
 */
function refusedToken(response: Response): boolean {
  if (response.status !== 401) return false
  const challenge = response.headers.get('www-authenticate')
  return challenge === null || challenge.includes('invalid_token')
}

function isRequest(input: RequestInfo | URL): input is Request {
  return typeof Request !== 'undefined' && input instanceof Request
}

function isStream(body: BodyInit | null | undefined): boolean {
  // React Native has no ReadableStream global.
  return typeof ReadableStream !== 'undefined' && body instanceof ReadableStream
}

function defaultLocks(): LockManagerLike | null {
  const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator
  return nav?.locks ?? null
}

async function tokenBody(response: Response): Promise<TokenBody> {
  const body = (await response.json()) as Partial<TokenBody> | null
  if (
    typeof body?.access_token !== 'string' ||
    typeof body.expires_in !== 'number' ||
    typeof body.user !== 'object'
  ) {
    throw new ClientError('invalid_response', 'The token response is malformed.', response.status)
  }
  return body as TokenBody
}
