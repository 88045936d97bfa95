import type { RevocationFact } from './revocation/facts.js'

/** What an app's audit log hears, by event name. No payload ever holds a secret. */
export interface LatchkeyEvents {
  /** A user signed up. */
  signup: { userId: string; email: string; ip: string | null }
  /** A password was accepted; `kind` says which credential the login got. */
  login: {
    userId: string
    loginId: string
    kind: 'session' | 'token'
    ip: string | null
    userAgent: string | null
  }
  /** A login failed: unknown email or wrong password (they are not told apart). */
  loginFailed: { email: string; ip: string | null }
  /** A user logged out: only this login, the others, or all of them. */
  logout: { userId: string; loginId: string; scope: 'local' | 'others' | 'global' }
  /** A refresh token was rotated (a retry inside the grace window included). */
  refresh: { userId: string; loginId: string }
  /** A spent refresh token came back outside the grace window; its whole family is revoked. */
  refreshReuse: { userId: string; loginId: string }
  /** A password was changed; every other credential of the user is dead. */
  passwordChange: { userId: string }
  /** Revocation facts written on this node (a logout, a password change, a reuse, …). */
  revocation: { facts: readonly RevocationFact[] }
}

export type EventName = keyof LatchkeyEvents
export type EventHandler<K extends EventName> = (event: LatchkeyEvents[K]) => void | Promise<void>

/** Handlers given at construction, one per event name. */
export type EventHandlers = { [K in EventName]?: EventHandler<K> }

/** Subscribe to events; `emit` is Latchkey's own. */
export interface Events {
  /** Adds a handler; returns the function that removes it. */
  on<K extends EventName>(name: K, handler: EventHandler<K>): () => void
  emit<K extends EventName>(name: K, event: LatchkeyEvents[K]): void
}

/**
 * A typed event hub. Handlers run after the fact, never in its way: one that throws or
 * rejects is reported to `onError` and the request goes on.
 */
export function createEvents(
  initial: EventHandlers,
  onError: (name: EventName, error: unknown) => void,
): Events {
  const handlers = new Map<EventName, Set<(event: never) => void | Promise<void>>>()
  const events: Events = {
    on(name, handler) {
      let set = handlers.get(name)
      if (set === undefined) handlers.set(name, (set = new Set()))
      set.add(handler)
      return () => set.delete(handler)
    },
    emit(name, event) {
      const set = handlers.get(name)
      if (set === undefined) return
      for (const handler of set) {
        try {
          const result = (handler as EventHandler<typeof name>)(event)
          if (result instanceof Promise) result.catch((error: unknown) => onError(name, error))
        } catch (error) {
          onError(name, error)
        }
      }
    },
  }
  for (const name of Object.keys(initial) as EventName[]) {
    const handler = initial[name]
    if (handler !== undefined) events.on(name, handler as EventHandler<typeof name>)
  }
  return events
}
