import type { ResolvedConfig } from '../config.js'
import type { Events } from '../events.js'
import type { RefreshTokens } from '../refresh/families.js'
import type { RevocationFeed } from '../revocation/feed.js'
import type { LoginRecord, UserRecord } from '../stores/contract.js'
import type { Sessions } from '../sessions/sessions.js'
import type { AccessTokenClaims } from '../tokens/claims.js'
import type { AccessTokens } from '../tokens/service.js'
import type { Users } from '../users/users.js'
import type { RateLimiter } from './rate-limit.js'

/** What the routes work with: the resolved configuration and the domain services. */
export interface App {
  config: ResolvedConfig
  feed: RevocationFeed
  events: Events
  users: Users
  sessions: Sessions
  tokens: AccessTokens
  refresh: RefreshTokens
  rateLimiter: RateLimiter
  csrfKey: Uint8Array
}

/** Who is calling, and through which credential (a Bearer caller comes with its claims). */
export type Caller =
  | { user: UserRecord; login: LoginRecord; via: 'cookie' }
  | { user: UserRecord; login: LoginRecord; via: 'bearer'; claims: AccessTokenClaims }
