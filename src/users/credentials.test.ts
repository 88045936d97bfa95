import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { Harness, ErrorBody } from '../../test/harness.js'
import {
  authed,
  browserHeaders,
  fastHasher,
  harness,
  manualClock,
  newUser,
  PASSWORD,
  signup,
} from '../../test/harness.js'
import type { RateLimits } from '../config.js'
import type { PasswordHasher } from '../crypto/password-hasher.js'
import { argon2idHasher, OWASP_ARGON2ID } from '../crypto/password-hasher.js'
import type { Store } from '../stores/contract.js'
import { memoryStore } from '../stores/memory.js'
import { openSqliteStore } from '../stores/sql/sqlite.js'

/** A hasher that counts its calls. */
function countingHasher(base: PasswordHasher = fastHasher) {
  const calls = { hash: 0, verify: 0 }
  const hasher: PasswordHasher = {
    hash: (password) => {
      calls.hash += 1
      return base.hash(password)
    },
    verify: (storedHash, password) => {
      calls.verify += 1
      return base.verify(storedHash, password)
    },
    needsRehash: (storedHash) => base.needsRehash(storedHash),
  }
  return { hasher, calls }
}

/** A store that counts the users it created. */
function countingUsers(base: Store = memoryStore()) {
  const counts = { created: 0 }
  const store: Store = {
    ...base,
    async createUser(user) {
      const created = await base.createUser(user)
      if (created !== null) counts.created += 1
      return created
    },
  }
  return { store, counts }
}

function attempt(h: Harness, email: string, password: string, ip = '203.0.113.7') {
  return h.send('/auth/login', {
    method: 'POST',
    headers: browserHeaders(),
    body: JSON.stringify({ email, password, mode: 'session' }),
    ip,
  })
}

async function errorOf(response: Response): Promise<string> {
  return ((await response.clone().json()) as ErrorBody).error
}

/** Status, body and every header of a response: what a client can compare. */
async function observable(response: Response) {
  return {
    status: response.status,
    body: await response.text(),
    headers: [...response.headers].sort(),
  }
}

describe('password hashing', () => {
  it('stores argon2id with the OWASP parameters by default', async () => {
    const h = harness({ passwordHasher: undefined })
    const email = 'owasp@example.com'
    assert.equal((await signup(h, email)).status, 201)
    const { passwordHash } = (await h.store.getUserByEmail(email))!
    assert.match(
      passwordHash,
      /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/,
    )
    assert.equal(passwordHash.includes(PASSWORD), false)
    assert.deepEqual(OWASP_ARGON2ID, { memoryCost: 19_456, timeCost: 2, parallelism: 1 })
    assert.equal((await attempt(h, email, PASSWORD)).status, 200)
  })

  it('hashes off the event loop: other work runs while a hash is computed', async () => {
    const hasher = argon2idHasher()
    let turns = 0
    let running = true
    const spin = () => {
      if (!running) return
      turns += 1
      setImmediate(spin)
    }
    setImmediate(spin)
    const hash = await hasher.hash(PASSWORD)
    running = false
    assert.ok(turns >= 2, `the event loop turned ${turns} times during the hash`)
    assert.equal(await hasher.verify(hash, PASSWORD), true)
  })

  it('salts: the same password hashes differently twice', async () => {
    const [a, b] = await Promise.all([fastHasher.hash(PASSWORD), fastHasher.hash(PASSWORD)])
    assert.notEqual(a, b)
  })

  it('rehashes on login when the parameters change, and the password keeps working', async () => {
    const store = memoryStore()
    const before = harness({ store })
    const email = 'rehash@example.com'
    assert.equal((await signup(before, email)).status, 201)
    const oldHash = (await store.getUserByEmail(email))!.passwordHash
    assert.match(oldHash, /^\$argon2id\$v=19\$m=1024,t=1,p=1\$/)

    const stronger = argon2idHasher({ memoryCost: 2048, timeCost: 2, parallelism: 1 })
    const after = harness({ store, passwordHasher: stronger })
    // A wrong password proves nothing and changes nothing.
    assert.equal((await attempt(after, email, 'not the password at all')).status, 401)
    assert.equal((await store.getUserByEmail(email))!.passwordHash, oldHash)

    assert.equal((await attempt(after, email, PASSWORD)).status, 200)
    const newHash = (await store.getUserByEmail(email))!.passwordHash
    assert.match(newHash, /^\$argon2id\$v=19\$m=2048,t=2,p=1\$/)
    assert.equal(stronger.needsRehash(newHash), false)
    assert.equal((await attempt(after, email, PASSWORD)).status, 200)
    assert.equal((await store.getUserByEmail(email))!.passwordHash, newHash, 'no second rehash')
    assert.deepEqual([...before.errors, ...after.errors], [])
  })
})

describe('unknown email and wrong password look the same', () => {
  async function twoAttempts() {
    const { hasher, calls } = countingHasher()
    const h = harness({ passwordHasher: hasher })
    const email = 'known@example.com'
    assert.equal((await signup(h, email)).status, 201)
    return { h, email, calls }
  }

  it('same status, body and headers', async () => {
    const { h, email } = await twoAttempts()
    const unknown = await observable(await attempt(h, 'nobody@example.com', PASSWORD))
    const wrong = await observable(await attempt(h, email, 'wrong password here'))
    const malformed = await observable(await attempt(h, 'not an email', PASSWORD))
    assert.equal(wrong.status, 401)
    assert.deepEqual(JSON.parse(wrong.body), {
      error: 'invalid_credentials',
      message: 'The email or password is wrong.',
    })
    assert.deepEqual(unknown, wrong)
    assert.deepEqual(malformed, wrong)
    assert.deepEqual(h.errors, [])
  })

  it('both run exactly one password verification and no hash, from the very first attempt', async () => {
    const { h, email, calls } = await twoAttempts()
    calls.hash = 0
    calls.verify = 0
    await attempt(h, 'nobody@example.com', PASSWORD)
    assert.deepEqual(calls, { hash: 0, verify: 1 }, 'unknown email')
    await attempt(h, email, 'wrong password here')
    assert.deepEqual(calls, { hash: 0, verify: 2 }, 'wrong password')
    await attempt(h, 'someone-else@example.com', PASSWORD)
    await attempt(h, 'not an email', PASSWORD)
    assert.deepEqual(calls, { hash: 0, verify: 4 }, 'further unknown emails')
  })

  it('the unknown-email verification runs against a real argon2id hash', async () => {
    const seen: string[] = []
    const hasher: PasswordHasher = {
      ...fastHasher,
      verify: (storedHash, password) => {
        seen.push(storedHash)
        return fastHasher.verify(storedHash, password)
      },
    }
    const h = harness({ passwordHasher: hasher })
    await attempt(h, 'nobody@example.com', PASSWORD)
    assert.equal(seen.length, 1)
    assert.match(seen[0]!, /^\$argon2id\$v=19\$m=1024,t=1,p=1\$/)
  })

  it('gives no session and sets no cookie on either failure', async () => {
    const { h, email } = await twoAttempts()
    for (const response of [
      await attempt(h, 'nobody@example.com', PASSWORD),
      await attempt(h, email, 'wrong password here'),
    ]) {
      assert.equal(response.headers.getSetCookie().length, 0)
    }
    const user = (await h.store.getUserByEmail(email))!
    assert.deepEqual(await h.store.listLiveLogins(user.id, h.clock()), [])
  })
})

describe('emails', () => {
  it('are unique ignoring case: A@Example.COM then a@example.com → 409, one user', async () => {
    const { store, counts } = countingUsers()
    const h = harness({ store })
    assert.equal((await signup(h, 'A@Example.COM')).status, 201)
    for (const variant of ['a@example.com', ' a@EXAMPLE.com ', 'A@EXAMPLE.COM']) {
      const response = await signup(h, variant, 'another good passphrase')
      assert.equal(response.status, 409, variant)
      assert.equal(await errorOf(response), 'email_taken')
    }
    assert.equal(counts.created, 1)
    const user = (await store.getUserByEmail('a@example.com'))!
    assert.equal(user.email, 'A@Example.COM')
    assert.equal(user.emailNormalized, 'a@example.com')
    assert.equal((await attempt(h, 'a@EXAMPLE.com', PASSWORD)).status, 200)
    // The first password stands: the refused sign-ups changed nothing.
    assert.equal((await attempt(h, 'a@example.com', 'another good passphrase')).status, 401)
  })

  it('are unique across Unicode normalization forms', async () => {
    const { store, counts } = countingUsers()
    const h = harness({ store })
    assert.equal((await signup(h, 'jos\u00e9@example.com')).status, 201)
    const response = await signup(h, 'jose\u0301@example.com')
    assert.equal(response.status, 409)
    assert.equal(counts.created, 1)
  })

  for (const email of ['', 'no-at-sign', 'a@b', 'two@@example.com', 'sp ace@example.com']) {
    it(`refuses the address ${JSON.stringify(email)} with invalid_request and stores nothing`, async () => {
      const { store, counts } = countingUsers()
      const h = harness({ store })
      const response = await signup(h, email)
      assert.equal(response.status, 400)
      assert.equal(await errorOf(response), 'invalid_request')
      assert.equal(counts.created, 0)
    })
  }
})

describe('password policy', () => {
  const weak: [string, (email: string) => string][] = [
    ['7 characters', () => 'abcdefg'],
    ['7 emoji (28 bytes, but 7 code points)', () => '🔑'.repeat(7)],
    ['257 characters', () => 'a'.repeat(257)],
    ['257 emoji', () => '🔑'.repeat(257)],
    ['a common password', () => 'password123'],
    ['a common password in other case', () => 'PassWord123'],
    ['the email address', (email) => email],
    ['the email address in upper case', (email) => email.toUpperCase()],
  ]

  for (const [name, password] of weak) {
    it(`refuses ${name} at sign-up: 400 weak_password, nothing stored`, async () => {
      const { store, counts } = countingUsers()
      const h = harness({ store })
      const email = 'weak-password@example.com'
      const response = await signup(h, email, password(email))
      assert.equal(response.status, 400)
      const body = (await response.json()) as ErrorBody
      assert.equal(body.error, 'weak_password')
      assert.ok(body.message.length > 0)
      assert.equal(counts.created, 0)
      assert.equal(await store.getUserByEmail(email), null)
    })
  }

  for (const [name, password] of weak) {
    it(`refuses ${name} as a new password: 400 weak_password, nothing changed`, async () => {
      const h = harness()
      const { email, session } = await newUser(h, 'changer@example.com')
      const before = (await h.store.getUserByEmail(email))!
      const response = await h.send('/auth/password', {
        method: 'POST',
        headers: authed(session),
        body: JSON.stringify({ currentPassword: PASSWORD, newPassword: password(email) }),
      })
      assert.equal(response.status, 400)
      assert.equal(await errorOf(response), 'weak_password')
      assert.deepEqual(await h.store.getUserByEmail(email), before)
      const still = await h.send('/auth/session', { headers: { cookie: session.cookie } })
      assert.equal(still.status, 200)
    })
  }

  for (const [name, password] of [
    ['8 characters', 'abcdefgh'],
    ['8 emoji', '🔑'.repeat(8)],
    ['8 multi-byte letters', 'çåñøéüßæ'],
    ['256 characters', 'b'.repeat(256)],
    ['256 emoji (1 KiB of UTF-8)', '🗝'.repeat(256)],
    ['256 mixed code points', 'ж🔑'.repeat(128)],
  ] as const) {
    it(`accepts ${name}, and it logs in`, async () => {
      const h = harness()
      const email = 'strong@example.com'
      const response = await signup(h, email, password)
      assert.equal(response.status, 201, await response.clone().text())
      assert.equal((await attempt(h, email, password)).status, 200)
      assert.equal((await attempt(h, email, password.slice(0, -1))).status, 401)
    })
  }
})

describe('rate limits', () => {
  const small = (overrides: Partial<RateLimits>): Partial<RateLimits> => ({
    loginPerIp: { limit: 100, windowMs: 60_000 },
    loginPerAccount: { limit: 100, windowMs: 60_000 },
    signupPerIp: { limit: 100, windowMs: 60_000 },
    ...overrides,
  })

  async function assertLimited(response: Response, retryAfter: number) {
    assert.equal(response.status, 429)
    const body = (await response.json()) as ErrorBody
    assert.deepEqual(Object.keys(body).sort(), ['error', 'message'])
    assert.equal(body.error, 'rate_limited')
    const header = response.headers.get('retry-after')
    assert.match(header ?? '', /^\d+$/, 'Retry-After in whole seconds')
    assert.equal(Number(header), retryAfter)
    assert.equal(response.headers.getSetCookie().length, 0)
  }

  it('limits logins per IP with 429 and Retry-After, even with the right password', async () => {
    const { hasher, calls } = countingHasher()
    const h = harness({
      passwordHasher: hasher,
      rateLimits: small({ loginPerIp: { limit: 3, windowMs: 60_000 } }),
    })
    const { email } = await newUser(h, 'ip-limit@example.com')
    // Guesses at three different accounts from one address.
    for (const victim of ['a@example.com', 'b@example.com', 'c@example.com']) {
      assert.equal((await attempt(h, victim, 'guess', '198.51.100.1')).status, 401)
    }
    calls.verify = 0
    await assertLimited(await attempt(h, 'd@example.com', 'guess', '198.51.100.1'), 60)
    await assertLimited(await attempt(h, email, PASSWORD, '198.51.100.1'), 60)
    assert.equal(calls.verify, 0, 'a limited attempt checks no password')
    const user = (await h.store.getUserByEmail(email))!
    assert.equal((await h.store.listLiveLogins(user.id, h.clock())).length, 1, 'no new session')
    // Another address is not affected.
    assert.equal((await attempt(h, email, PASSWORD, '198.51.100.2')).status, 200)
  })

  it('a forged X-Forwarded-For does not escape the per-IP limit', async () => {
    const h = harness({ rateLimits: small({ loginPerIp: { limit: 2, windowMs: 60_000 } }) })
    const statuses: number[] = []
    for (let i = 0; i < 4; i += 1) {
      const response = await h.send('/auth/login', {
        method: 'POST',
        headers: browserHeaders({ 'x-forwarded-for': `192.0.2.${i}` }),
        body: JSON.stringify({ email: `x${i}@example.com`, password: 'guess' }),
        ip: '198.51.100.9',
      })
      statuses.push(response.status)
    }
    assert.deepEqual(statuses, [401, 401, 429, 429])
  })

  it('behind a trusted proxy, the client-controlled part of X-Forwarded-For does not escape it', async () => {
    const h = harness({
      trustProxyHops: 1,
      rateLimits: small({ loginPerIp: { limit: 2, windowMs: 60_000 } }),
    })
    const statuses: number[] = []
    for (let i = 0; i < 4; i += 1) {
      const response = await h.send('/auth/login', {
        method: 'POST',
        headers: browserHeaders({ 'x-forwarded-for': `192.0.2.${i}, 198.51.100.9` }),
        body: JSON.stringify({ email: `x${i}@example.com`, password: 'guess' }),
        ip: '10.0.0.1',
      })
      statuses.push(response.status)
    }
    assert.deepEqual(statuses, [401, 401, 429, 429])
  })

  it('limits logins per account across many IPs, in any letter case', async () => {
    const h = harness({ rateLimits: small({ loginPerAccount: { limit: 3, windowMs: 120_000 } }) })
    const email = 'target@example.com'
    assert.equal((await signup(h, email)).status, 201)
    const spellings = ['target@example.com', 'TARGET@example.com', ' Target@Example.com ']
    for (const [i, spelling] of spellings.entries()) {
      assert.equal((await attempt(h, spelling, 'guess', `198.51.100.${i}`)).status, 401)
    }
    await assertLimited(await attempt(h, email, PASSWORD, '198.51.100.77'), 120)
    // Another account from the same addresses is not affected.
    await newUser(h, 'bystander@example.com')
    assert.equal((await attempt(h, 'bystander@example.com', PASSWORD, '198.51.100.0')).status, 200)
  })

  it('limits sign-ups per IP, and a limited sign-up stores nothing', async () => {
    const { store, counts } = countingUsers()
    const h = harness({
      store,
      rateLimits: small({ signupPerIp: { limit: 2, windowMs: 3_600_000 } }),
    })
    const send = (email: string, ip: string) =>
      h.send('/auth/signup', {
        method: 'POST',
        headers: browserHeaders(),
        body: JSON.stringify({ email, password: PASSWORD }),
        ip,
      })
    assert.equal((await send('one@example.com', '198.51.100.1')).status, 201)
    assert.equal((await send('two@example.com', '198.51.100.1')).status, 201)
    await assertLimited(await send('three@example.com', '198.51.100.1'), 3600)
    assert.equal(await store.getUserByEmail('three@example.com'), null)
    assert.equal(counts.created, 2)
    assert.equal((await send('three@example.com', '198.51.100.2')).status, 201)
  })

  it('limits password-change guesses through a stolen session', async () => {
    const h = harness({ rateLimits: small({ loginPerAccount: { limit: 2, windowMs: 60_000 } }) })
    const { email, session } = await newUser(h)
    const guess = (currentPassword: string) =>
      h.send('/auth/password', {
        method: 'POST',
        headers: authed(session),
        body: JSON.stringify({ currentPassword, newPassword: 'the thief wants this one' }),
      })
    assert.equal((await guess('guess one')).status, 401)
    assert.equal((await guess('guess two')).status, 401)
    await assertLimited(await guess(PASSWORD), 60)
    const user = (await h.store.getUserByEmail(email))!
    assert.equal(user.tokenVersion, 0, 'the password was not changed')
  })

  it('Retry-After counts down with the window, in whole seconds rounded up', async () => {
    const h = harness({ rateLimits: small({ loginPerIp: { limit: 1, windowMs: 60_000 } }) })
    assert.equal((await attempt(h, 'a@example.com', 'guess')).status, 401)
    h.clock.advance(15_000)
    await assertLimited(await attempt(h, 'a@example.com', 'guess'), 45)
    h.clock.advance(44_500)
    await assertLimited(await attempt(h, 'a@example.com', 'guess'), 1)
  })

  it('the counter resets when the window is over', async () => {
    const h = harness({ rateLimits: small({ loginPerIp: { limit: 2, windowMs: 60_000 } }) })
    const { email } = await newUser(h)
    for (let i = 0; i < 2; i += 1) await attempt(h, email, 'guess')
    await assertLimited(await attempt(h, email, PASSWORD), 60)
    h.clock.advance(59_999)
    await assertLimited(await attempt(h, email, PASSWORD), 1)
    h.clock.advance(1)
    assert.equal((await attempt(h, email, PASSWORD)).status, 200)
  })

  it('holds across two nodes sharing one store', async () => {
    const store = memoryStore()
    const clock = manualClock()
    const rateLimits = small({ loginPerIp: { limit: 4, windowMs: 60_000 } })
    const a = harness({ store, clock, rateLimits })
    const b = harness({ store, clock, rateLimits })
    const { email } = await newUser(a, 'two-nodes@example.com')
    const statuses = []
    for (const node of [a, b, a, b, a, b]) {
      statuses.push((await attempt(node, email, 'guess', '198.51.100.5')).status)
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 429, 429])
    await assertLimited(await attempt(b, email, PASSWORD, '198.51.100.5'), 60)
    clock.advance(60_000)
    assert.equal((await attempt(b, email, PASSWORD, '198.51.100.5')).status, 200)
  })

  it('holds across two nodes with their own SQLite connections to one database', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'latchkey-limits-'))
    const filename = join(dir, 'latchkey.db')
    const first = await openSqliteStore({ filename })
    const second = await openSqliteStore({ filename })
    try {
      const clock = manualClock()
      const rateLimits = small({
        loginPerIp: { limit: 100, windowMs: 60_000 },
        loginPerAccount: { limit: 3, windowMs: 60_000 },
      })
      const a = harness({ store: first, clock, rateLimits })
      const b = harness({ store: second, clock, rateLimits })
      const email = 'sqlite-nodes@example.com'
      assert.equal((await signup(a, email)).status, 201)
      // Both connections see one user, and both count into one budget.
      const statuses = []
      for (const [i, node] of [b, a, b, a].entries()) {
        statuses.push((await attempt(node, email, 'guess', `198.51.100.${i}`)).status)
      }
      assert.deepEqual(statuses, [401, 401, 401, 429])
      await assertLimited(await attempt(b, email, PASSWORD, '198.51.100.50'), 60)
      clock.advance(60_000)
      assert.equal((await attempt(b, email, PASSWORD, '198.51.100.51')).status, 200)
      assert.deepEqual([...a.errors, ...b.errors], [])
    } finally {
      await first.close()
      await second.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('concurrent attempts on two nodes cannot exceed the budget', async () => {
    const store = memoryStore()
    const clock = manualClock()
    const rateLimits = small({ loginPerIp: { limit: 5, windowMs: 60_000 } })
    const a = harness({ store, clock, rateLimits })
    const b = harness({ store, clock, rateLimits })
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        attempt(i % 2 === 0 ? a : b, `u${i}@example.com`, 'guess', '198.51.100.8'),
      ),
    )
    const statuses = responses.map((response) => response.status)
    assert.equal(statuses.filter((status) => status === 401).length, 5)
    assert.equal(statuses.filter((status) => status === 429).length, 15)
  })
})
