/** What the client keeps between calls: the access token and, in the body transport, the refresh token. */
export interface StoredTokens {
  accessToken: string
  /** Milliseconds since the epoch, by the client's clock, when the access token expires. */
  accessExpiresAt: number
  /** Absent with `transport: 'cookie'`: the browser's HttpOnly cookie carries it. */
  refreshToken?: string
}

/**
 * Where the tokens live. Async so that React Native's AsyncStorage, IndexedDB or a
 * keychain fit; share one storage between tabs (and a lock manager) to share a session.
 */
export interface TokenStorage {
  get(): Promise<StoredTokens | null>
  set(tokens: StoredTokens): Promise<void>
  remove(): Promise<void>
}

/** The default storage: one object in memory, gone with the page or process. */
export function memoryStorage(initial: StoredTokens | null = null): TokenStorage {
  // Copies in and out, so a caller mutating what it got cannot change what is stored.
  let tokens = initial === null ? null : { ...initial }
  return {
    get: () => Promise.resolve(tokens === null ? null : { ...tokens }),
    set(next) {
      tokens = { ...next }
      return Promise.resolve()
    },
    remove() {
      tokens = null
      return Promise.resolve()
    },
  }
}
