/**
 * Revocation facts: what a node must hear to stop accepting a credential it has cached.
 * Each is written to the store first (the source of truth) and then published.
 */
export type RevocationFact =
  /** One login (a cookie session or a refresh-token family, the tokens' `sid`) is dead. */
  | { type: 'login'; loginId: string; userId: string }
  /** Every credential of the user below `version` (the tokens' `ver`) is dead. */
  | { type: 'user'; userId: string; version: number }
  /** One access token is denied until `until` (epoch ms). */
  | { type: 'token'; jti: string; until: number }
  /** A signing key is retired: reload the keyring. */
  | { type: 'key'; kid: string }

/** What travels on the bus: facts from one node, or a probe that checks the bus end to end. */
export type BusMessage =
  { v: 1; origin: string; facts: RevocationFact[] } | { v: 1; origin: string; probe: string }

const MAX_FACTS = 10_000
const MAX_ID = 256

/** The wire form of a message. */
export function encodeMessage(message: BusMessage): string {
  return JSON.stringify(message)
}

/**
 * Reads a message strictly; `null` for anything malformed. A bus is shared
 * infrastructure, so a stray publisher on the channel must not be able to crash a node.
 */
export function decodeMessage(payload: string): BusMessage | null {
  let value: unknown
  try {
    value = JSON.parse(payload)
  } catch {
    return null
  }
  if (!isObject(value) || value.v !== 1 || !isId(value.origin)) return null
  if (isId(value.probe)) return { v: 1, origin: value.origin, probe: value.probe }
  const facts = value.facts
  if (!Array.isArray(facts) || facts.length > MAX_FACTS) return null
  const decoded: RevocationFact[] = []
  for (const fact of facts) {
    const checked = decodeFact(fact)
    if (checked === null) return null
    decoded.push(checked)
  }
  return { v: 1, origin: value.origin, facts: decoded }
}

function decodeFact(fact: unknown): RevocationFact | null {
  if (!isObject(fact)) return null
  switch (fact.type) {
    case 'login':
      return isId(fact.loginId) && isId(fact.userId)
        ? { type: 'login', loginId: fact.loginId, userId: fact.userId }
        : null
    case 'user':
      return isId(fact.userId) && isCount(fact.version)
        ? { type: 'user', userId: fact.userId, version: fact.version }
        : null
    case 'token':
      return isId(fact.jti) && isCount(fact.until)
        ? { type: 'token', jti: fact.jti, until: fact.until }
        : null
    case 'key':
      return isId(fact.kid) ? { type: 'key', kid: fact.kid } : null
    default:
      return null
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}
