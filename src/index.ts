import type { LatchkeyOptions, ResolvedConfig } from './config.js'
import { resolveConfig } from './config.js'
import { deriveKey } from './crypto/keys.js'
import type { Events } from './events.js'
import { createEvents } from './events.js'
import type { App, Caller } from './http/app.js'
import { authenticate, cachedCaller, unless401 } from './http/authenticate.js'
import type { CredentialRequest } from './http/authenticate.js'
import type { ErrorLogger, Handler } from './http/handler.js'
import { createHandler } from './http/handler.js'
import { createRateLimiter } from './http/rate-limit.js'
import { CredentialCache } from './revocation/cache.js'
import type { RevocationFeed } from './revocation/feed.js'
import { createBusFeed, createLocalFeed } from './revocation/feed.js'
import { publishingStore } from './revocation/publishing-store.js'
import type { RefreshTokens } from './refresh/families.js'
import { createRefreshTokens } from './refresh/families.js'
import type { Sessions } from './sessions/sessions.js'
import { createSessions } from './sessions/sessions.js'
import type { AccessTokens } from './tokens/service.js'
import { createAccessTokens } from './tokens/service.js'
import type { Users } from './users/users.js'
import { createUsers } from './users/users.js'

export type {
  LatchkeyOptions,
  RateLimitRule,
  RateLimits,
  RefreshOptions,
  RevocationOptions,
  SessionLifetime,
  TokenOptions,
} from './config.js'
export type { ErrorCode } from './errors.js'
export type { EventHandler, EventHandlers, EventName, Events, LatchkeyEvents } from './events.js'
export type { CacheOptions } from './revocation/cache.js'
export type { RevocationFact } from './revocation/facts.js'
export type { BusState, RevocationFeed } from './revocation/feed.js'
export type { BusTransport, RetainSource, TransportListener } from './revocation/transport.js'
export { AuthError, ConfigError, StoreUnavailableError } from './errors.js'
export type { Caller } from './http/app.js'
export type { ConnectionInfo } from './http/client.js'
export type { CredentialRequest } from './http/authenticate.js'
export type { HeaderReader } from './http/header-reader.js'
export type { ApiRequest, Handler, ReplyHandler } from './http/handler.js'
export type { Reply } from './http/responses.js'
export type {
  LoginRecord,
  RefreshTokenRecord,
  SigningKeyRecord,
  Store,
  UserRecord,
} from './stores/contract.js'
export type { SigningAlg } from './tokens/algorithms.js'
export type { AccessTokenClaims } from './tokens/claims.js'
export type { Jwks, KeySummary, KeyStatus, Keyring } from './tokens/keyring.js'
export type { AccessTokens, ValidToken } from './tokens/service.js'
export type { IssuedTokens, RefreshTokens } from './refresh/families.js'
export type { PasswordHasher, Argon2Params } from './crypto/password-hasher.js'
export { argon2idHasher, OWASP_ARGON2ID } from './crypto/password-hasher.js'
export type { PublicUser } from './users/users.js'

/** A configured Latchkey: the HTTP API as a handler, and the services behind it. */
export interface Latchkey {
  /** The HTTP API: `(Request) => Response`, for any runtime or adapter. */
  handler: Handler
  /**
   * The caller behind a request's credential, or `null` when there is none or it is dead.
   * Takes a `Request` or anything with its `method` and `headers.get`.
   */
  authenticate(request: CredentialRequest): Promise<Caller | null>
  /** The caller behind a request's credential, or an `AuthError` saying precisely why not. */
  check(request: CredentialRequest): Promise<Caller>
  /**
   * The caller, at once and without a promise, when this node can tell from memory: the
   * credential was validated here in full, no revocation fact has touched it since, it has
   * not expired, and the bus is trusted. `undefined` in every other case (no credential,
   * not yet seen here, a refusal): then ask `authenticate` or `check`. A route that answers
   * synchronously on a hit saves the promise chain on almost every request.
   */
  peek(request: CredentialRequest): Caller | undefined
  /** Sign-up, password checks and changes. */
  users: Users
  /** Cookie sessions: create, validate (through this node's cache), renew. */
  sessions: Sessions
  /** Access tokens and their keyring (`tokens.keyring.maintain` rotates on schedule). */
  tokens: AccessTokens
  /** Refresh-token families: start at token-mode login, rotate, detect reuse. */
  refresh: RefreshTokens
  /** Events for an app's audit log: `latchkey.events.on('login', handler)`. */
  events: Events
  /** The revocation feed of this node: its bus state, and facts as they arrive. */
  revocation: RevocationFeed
  /** The options after validation, every default filled in. */
  config: ResolvedConfig
  /** Closes the bus and the store. */
  close(): Promise<void>
}

/** Creates Latchkey from options; throws ConfigError at once when they are wrong. */
export function createLatchkey(options: LatchkeyOptions & { logger?: ErrorLogger }): Latchkey {
  const resolved = resolveConfig(options)
  const { bus, probeIntervalMs, probeTimeoutMs } = resolved.revocation
  const feed =
    bus === undefined
      ? createLocalFeed()
      : createBusFeed(bus, {
          probeIntervalMs,
          probeTimeoutMs,
        })
  // Late subscribers (latchkey/verify) rebuild what they missed from the bus's log, which
  // this node seeds from the store on every connect: as far back as a token can live.
  bus?.retain?.({
    windowMs: (resolved.tokens.accessTokenTtlSeconds + resolved.tokens.skewSeconds) * 1000,
    load: (since) => resolved.store.listRevocationFacts(since, resolved.clock()),
  })
  // Every write that kills a credential goes through here, and so reaches every node.
  const config = { ...resolved, store: publishingStore(resolved.store, feed) }
  const { store, clock } = config
  const cacheOptions = config.revocation.cache
  const logger = options.logger ?? { error: (message, error) => console.error(message, error) }
  const events = createEvents(options.events ?? {}, (name, error) =>
    logger.error(`a ${name} event handler failed`, error),
  )
  // Facts written here, whatever wrote them; other nodes report their own.
  feed.subscribe({
    facts: (facts, remote) => {
      if (!remote) events.emit('revocation', { facts })
    },
    flush: () => undefined,
  })
  const users = createUsers({ store, hasher: config.passwordHasher, clock })
  const sessions = createSessions({
    store,
    clock,
    ...config.session,
    cache: new CredentialCache(feed, clock, cacheOptions),
  })
  const tokens = createAccessTokens({
    store,
    clock,
    issuer: config.issuer,
    masterSecret: config.secret,
    config: config.tokens,
    cache: new CredentialCache(feed, clock, cacheOptions),
    feed,
  })
  const refresh = createRefreshTokens({
    store,
    clock,
    tokens,
    key: deriveKey(config.secret, 'refresh'),
    config: config.tokens.refresh,
    events,
  })
  const app: App = {
    config,
    feed,
    events,
    users,
    sessions,
    tokens,
    refresh,
    rateLimiter: createRateLimiter(store, clock, deriveKey(config.secret, 'rate-limit')),
    csrfKey: deriveKey(config.secret, 'csrf'),
  }
  return {
    handler: createHandler(app, logger),
    authenticate: (request) => unless401(authenticate(app, request)),
    check: (request) => authenticate(app, request),
    peek: (request) => cachedCaller(app, request),
    users,
    sessions,
    tokens,
    refresh,
    events,
    revocation: feed,
    config,
    async close() {
      await feed.close()
      await store.close()
    },
  }
}
