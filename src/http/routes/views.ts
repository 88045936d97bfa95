import type { LoginRecord } from '../../stores/contract.js'

/** A login as the API shows it: never its secret hash. */
export interface LoginView {
  id: string
  kind: LoginRecord['kind']
  createdAt: string
  lastSeenAt: string
  expiresAt: string
  absoluteExpiresAt: string
  ip: string | null
  userAgent: string | null
  current: boolean
}

const iso = (ms: number) => new Date(ms).toISOString()

export function loginView(login: LoginRecord, currentId: string | null): LoginView {
  return {
    id: login.id,
    kind: login.kind,
    createdAt: iso(login.createdAt),
    lastSeenAt: iso(login.lastSeenAt),
    expiresAt: iso(Math.min(login.idleExpiresAt, login.absoluteExpiresAt)),
    absoluteExpiresAt: iso(login.absoluteExpiresAt),
    ip: login.ip,
    userAgent: login.userAgent,
    current: login.id === currentId,
  }
}
