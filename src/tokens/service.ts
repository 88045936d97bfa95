import type { Clock } from '../clock.js'
import { randomId } from '../crypto/opaque-token.js'
import type { ResolvedTokenConfig } from '../config.js'
import { AuthError } from '../errors.js'
import type { CredentialCache } from '../revocation/cache.js'
import type { RevocationFeed } from '../revocation/feed.js'
import type { LoginRecord, Store, UserRecord } from '../stores/contract.js'
import type { ClientInfo } from '../sessions/sessions.js'
import { signAccessToken } from './access-token.js'
import type { SignedAccessToken, SigningKey } from './access-token.js'
import { createAccessTokenVerifier } from './access-token-verifier.js'
import type { AccessTokenClaims } from './claims.js'
import type { Jwks } from './keyring.js'
import { Keyring } from './keyring.js'

/** A verified Bearer token with everything it stands for. */
export interface ValidToken {
  user: UserRecord
  login: LoginRecord
  claims: AccessTokenClaims
}

/** An access token issued on a new token-mode login. */
export interface IssuedAccess {
  login: LoginRecord
  access: SignedAccessToken
}

/** The stateless strategy: issue access tokens, verify them, revoke them, publish keys. */
export interface AccessTokens {
  keyring: Keyring
  /**
   * Creates a login of kind `token` (its id is the `sid`) and signs a token for it. The
   * login is the refresh-token family, so it has the family's idle and absolute expiry.
   */
  issue(user: UserRecord, client: ClientInfo): Promise<IssuedAccess>
  /**
   * Signs a new access token for an existing token login, at the user's current `ver`.
   * With `readSince` (a {@link AccessTokens.readMark} taken before `user` and `login` were
   * read), the token is known valid here at once: its first use needs no full check,
   * unless a revocation fact arrived since the mark.
   */
  sign(user: UserRecord, login: LoginRecord, readSince?: number): Promise<SignedAccessToken>
  /** A mark to take before reading what a token will be signed for (see `sign`). */
  readMark(): number
  /** The strict verifier, then revocation: `ver`, the `sid` login, the `jti` denylist. */
  verify(token: string): Promise<ValidToken>
  /**
   * What `verify` would answer from this node's memory alone: the token was verified here
   * in full, no fact has touched it since, it has not expired and the bus is trusted.
   * `undefined` otherwise: then `verify` decides.
   */
  cached(token: string): ValidToken | undefined
  /** Denies one token for as long as a verifier could still accept it. */
  deny(claims: AccessTokenClaims): Promise<void>
  /** The JWKS; loads (or creates) the keys on first use. */
  jwks(): Promise<Jwks>
}

const MAX_USER_AGENT = 512
/** The least time between two keyring reloads caused by an unknown `kid`. */
const MISS_REFRESH_MS = 10_000

/** Builds the access-token service over the store's keyring. */
export function createAccessTokens(deps: {
  store: Store
  clock: Clock
  issuer: string
  masterSecret: Uint8Array
  config: ResolvedTokenConfig
  /** Tokens verified on this node, evicted by revocation facts. */
  cache: CredentialCache<ValidToken>
  feed: RevocationFeed
}): AccessTokens {
  const { store, clock, issuer, config, cache } = deps
  const keyring = new Keyring({
    store,
    masterSecret: deps.masterSecret,
    alg: config.alg,
    hmacSecret: config.hmacSecret,
    maxTokenTtlSeconds: config.accessTokenTtlSeconds,
    skewSeconds: config.skewSeconds,
    clock,
  })
  let missedKid = false
  let lastMissRefresh = -Infinity
  const verifyClaims = createAccessTokenVerifier({
    resolveKey: (kid) => {
      const key = keyring.resolveKey(kid)
      missedKid = key === undefined
      return key
    },
    issuer,
    audience: config.audience,
    skewSeconds: config.skewSeconds,
  })
  const revoked = () => new AuthError('token_revoked', 'This access token has been revoked.')
  // Another node added or retired a key: load the keyring again rather than wait for a miss.
  deps.feed.subscribe({
    facts(facts, remote) {
      if (remote && facts.some((fact) => fact.type === 'key')) {
        keyring.refresh().catch(() => undefined)
      }
    },
    flush: () => undefined,
  })

  /** Checks the token; an unknown kid reloads the keys once (another node may have rotated). */
  async function checked(token: string, now: number): Promise<AccessTokenClaims> {
    missedKid = false
    try {
      return verifyClaims(token, now)
    } catch (error) {
      if (!missedKid || now - lastMissRefresh < MISS_REFRESH_MS) throw error
      lastMissRefresh = now
      await keyring.refresh()
      return verifyClaims(token, now)
    }
  }

  /** Keeps a valid token in this node's cache; dropped if a fact came after `generation`. */
  function remember(token: string, valid: ValidToken, generation: number): void {
    const { user, login, claims } = valid
    // Never past `exp` (the skew is left to the full check) nor the login's own end.
    const expiresAt = Math.min(claims.exp * 1000, login.idleExpiresAt, login.absoluteExpiresAt)
    const entry = { value: valid, userId: user.id, loginId: login.id, jti: claims.jti, expiresAt }
    cache.fill(token, entry, generation)
  }

  function signFor(
    key: SigningKey,
    user: UserRecord,
    login: LoginRecord,
    now: number,
  ): SignedAccessToken {
    return signAccessToken(
      key,
      { iss: issuer, sub: user.id, aud: config.audience, sid: login.id, ver: user.tokenVersion },
      { now, ttlSeconds: config.accessTokenTtlSeconds },
    )
  }

  return {
    keyring,

    async issue(user, client) {
      const now = clock()
      const key = await keyring.ensure(now)
      // The login lives as long as its refresh-token family: rotations push the idle
      // expiry forward, never the absolute one.
      const login: LoginRecord = {
        id: randomId(),
        userId: user.id,
        kind: 'token',
        secretHash: null,
        createdAt: now,
        lastSeenAt: now,
        idleExpiresAt: now + config.refresh.idleMs,
        absoluteExpiresAt: now + config.refresh.absoluteMs,
        ip: client.ip,
        userAgent: client.userAgent?.slice(0, MAX_USER_AGENT) ?? null,
        revokedAt: null,
      }
      await store.createLogin(login)
      return { login, access: signFor(key, user, login, now) }
    },

    async sign(user, login, readSince) {
      const now = clock()
      const signed = signFor(await keyring.ensure(now), user, login, now)
      if (readSince !== undefined)
        remember(signed.token, { user, login, claims: signed.claims }, readSince)
      return signed
    },

    readMark: () => cache.begin(),

    cached: (token) => cache.get(token, clock()),

    async verify(token) {
      const now = clock()
      // The hot path: this exact token was verified here, and no fact has touched it.
      const cached = cache.get(token, now)
      if (cached !== undefined) return cached
      const generation = cache.begin()
      const claims = await checked(token, now)
      const user = await store.getUserById(claims.sub)
      if (user === null) throw new AuthError('invalid_token', 'The token names no known user.')
      if (claims.ver < user.tokenVersion) throw revoked()
      const login = await store.getLogin(claims.sid)
      if (login === null || login.userId !== user.id) throw revoked()
      if (login.revokedAt !== null || now >= login.absoluteExpiresAt) throw revoked()
      if (now >= login.idleExpiresAt) throw revoked()
      if (await store.isTokenDenied(claims.jti, now)) throw revoked()
      const valid = { user, login, claims }
      remember(token, valid, generation)
      return valid
    },

    // Until `exp` plus the skew: the verifier still accepts the token that long.
    deny: (claims) => store.denyToken(claims.jti, (claims.exp + config.skewSeconds) * 1000),

    async jwks() {
      const now = clock()
      await keyring.ensure(now)
      return keyring.publicJwks(now)
    },
  }
}
