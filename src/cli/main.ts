#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { ConfigError } from '../errors.js'
import { readServerEnv, type ServerEnv } from '../server/env.js'
import {
  migrateDatabase,
  openLatchkey,
  startServer,
  type RunningServer,
  type ServerLogger,
} from '../server/start.js'
import type { KeySummary } from '../tokens/keyring.js'

const USAGE = `Usage: latchkey <command>

Commands:
  start     Apply migrations and serve the HTTP API (the default)
  migrate   Apply pending database migrations and exit
  keys list     List the signing keys: kid, alg, status and dates (never private material)
  keys rotate   Add a signing key; it is published now and signs after the JWKS max-age
  help      Show this help
  version   Show the version

Configuration is read from the environment: PORT, HOST, LATCHKEY_ISSUER,
LATCHKEY_TRUSTED_ORIGINS, LATCHKEY_SECRET, LATCHKEY_DATA_DIR, LATCHKEY_TRUST_PROXY,
LATCHKEY_JWT_ALG, LATCHKEY_ACCESS_TOKEN_TTL, LATCHKEY_AUDIENCE, LATCHKEY_HS256_SECRET,
LATCHKEY_REFRESH_IDLE_TTL, LATCHKEY_REFRESH_ABSOLUTE_TTL, DATABASE_URL, REDIS_URL,
LATCHKEY_REDIS_PREFIX, LATCHKEY_PG_PREPARE, LATCHKEY_DRAIN_TIMEOUT, NODE_ENV. See the
README.

On SIGTERM or SIGINT the server stops taking connections, lets open requests finish
(LATCHKEY_DRAIN_TIMEOUT seconds, default 10), closes the store and exits; a second
signal exits at once.`

/** After the drain timeout, the bus and the store get this long to close before the process ends anyway. */
const CLOSE_GRACE_MS = 5_000

const logger: ServerLogger = {
  info: (message) => console.log(message),
  warn: (message) => console.warn(`warning: ${message}`),
  error: (message, error) => console.error(message, error),
}

/** `latchkey keys list|rotate`: the keyring of the configured store. */
async function keys(action: string | undefined): Promise<number> {
  if (action !== 'list' && action !== 'rotate') {
    console.error(`Unknown keys command "${action ?? ''}"; use "keys list" or "keys rotate".`)
    return 2
  }
  const latchkey = await openLatchkey(readServerEnv(process.env), logger)
  try {
    const { keyring } = latchkey.tokens
    const now = Date.now()
    // A rotation always leaves a successor beside a key that signs today.
    await keyring.ensure(now)
    if (action === 'rotate') {
      const added = await keyring.rotate(now)
      logger.info(`Added ${added.kid} (${added.alg}); it signs from ${iso(added.activatesAt)}.`)
    }
    printKeys(keyring.list(now))
    return 0
  } finally {
    await latchkey.close()
  }
}

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString())

function printKeys(list: KeySummary[]): void {
  console.log(['kid', 'alg', 'status', 'created', 'activates', 'retires', 'expires'].join('\t'))
  for (const key of list) {
    const dates = [key.createdAt, key.activatesAt, key.retiredAt, key.expiresAt].map(iso)
    console.log([key.kid, key.alg, key.status, ...dates].join('\t'))
  }
}

/**
 * `latchkey start`. The signal handlers come first: a supervisor may signal as soon as
 * the process exists, and once "listening" is printed it may signal at any moment, so
 * a signal must never find the process without them (node's default is to die, without
 * a drain). A signal during start-up stops the server as soon as it has started.
 */
async function serve(env: ServerEnv): Promise<void> {
  let started: RunningServer | undefined = undefined
  let stopping = false
  const close = (running: RunningServer) =>
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error('stop failed', error)
        process.exit(1)
      },
    )
  const stop = () => {
    if (stopping) {
      // A second signal: the operator does not want to wait.
      logger.warn('stopping at once')
      process.exit(1)
    }
    stopping = true
    logger.info('latchkey stopping')
    // Open requests get the drain period; the bus and the store then get the rest.
    const deadlineMs = env.drainSeconds * 1000 + CLOSE_GRACE_MS
    setTimeout(() => {
      logger.error(`stop did not finish within ${deadlineMs / 1000} s; exiting`)
      process.exit(1)
    }, deadlineMs).unref()
    if (started !== undefined) void close(started)
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  started = await startServer(env, logger)
  logger.info(`latchkey listening on ${started.url}`)
  if (stopping) void close(started)
}

async function main(command: string): Promise<number> {
  switch (command) {
    case 'keys':
      return keys(process.argv[3])
    case 'start':
      await serve(readServerEnv(process.env))
      return -1
    case 'migrate': {
      const env = readServerEnv(process.env)
      const applied = await migrateDatabase(env.database)
      logger.info(applied.length === 0 ? 'Nothing to migrate.' : `Applied: ${applied.join(', ')}`)
      return 0
    }
    case 'version':
    case '--version': {
      const pkg = JSON.parse(
        readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
      ) as { version: string }
      console.log(pkg.version)
      return 0
    }
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE)
      return 0
    default:
      console.error(`Unknown command "${command}".\n\n${USAGE}`)
      return 2
  }
}

main(process.argv[2] ?? 'start').then(
  (code) => {
    if (code >= 0) process.exit(code)
  },
  (error: unknown) => {
    if (error instanceof ConfigError) {
      console.error(`latchkey: ${error.message}`)
    } else {
      console.error('latchkey: failed to start', error)
    }
    process.exit(1)
  },
)
