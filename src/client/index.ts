/**
 * `latchkey/client`: login, logout and an authenticated `fetch` for browsers, Node 20+ and
 * React Native. It uses fetch, and the Web Locks API (`navigator.locks`) when present.
 */
export { createClient } from './client.js'
export type {
  ClientOptions,
  ClientSession,
  ClientUser,
  LatchkeyClient,
  LockManagerLike,
  LogoutReason,
} from './client.js'
export { ClientError } from './errors.js'
export { memoryStorage } from './storage.js'
export type { StoredTokens, TokenStorage } from './storage.js'
