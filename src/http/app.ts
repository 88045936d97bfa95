import type { ResolvedConfig } from '../config.js'
import type { LoginRecord, UserRecord } from '../stores/contract.js'
import type { Sessions } from '../sessions/sessions.js'
import type { Users } from '../users/users.js'
import type { RateLimiter } from './rate-limit.js'

/** What the routes work with: the resolved configuration and the domain services. */
export interface App {
  config: ResolvedConfig
  users: Users
  sessions: Sessions
  rateLimiter: RateLimiter
  csrfKey: Uint8Array
}

/** Who is calling, and through which credential. */
export interface Caller {
  user: UserRecord
  login: LoginRecord
  via: 'cookie'
}
