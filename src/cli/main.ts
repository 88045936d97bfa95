#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { ConfigError } from '../errors.js'
import { readServerEnv } from '../server/env.js'
import { startServer, type ServerLogger } from '../server/start.js'
import { migrateSqlite } from '../stores/sql/sqlite.js'

const USAGE = `Usage: latchkey <command>

Commands:
  start     Apply migrations and serve the HTTP API (the default)
  migrate   Apply pending database migrations and exit
  help      Show this help
  version   Show the version

Configuration is read from the environment: PORT, HOST, LATCHKEY_ISSUER,
LATCHKEY_TRUSTED_ORIGINS, LATCHKEY_SECRET, LATCHKEY_DATA_DIR, LATCHKEY_TRUST_PROXY,
DATABASE_URL, NODE_ENV. See the README.`

const logger: ServerLogger = {
  info: (message) => console.log(message),
  warn: (message) => console.warn(`warning: ${message}`),
  error: (message, error) => console.error(message, error),
}

async function main(command: string): Promise<number> {
  switch (command) {
    case 'start': {
      const running = await startServer(readServerEnv(process.env), logger)
      logger.info(`latchkey listening on ${running.url}`)
      const stop = () => {
        logger.info('latchkey stopping')
        running.close().then(
          () => process.exit(0),
          (error: unknown) => {
            logger.error('stop failed', error)
            process.exit(1)
          },
        )
      }
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
      return -1
    }
    case 'migrate': {
      const env = readServerEnv(process.env)
      const applied = await migrateSqlite(env.database.filename)
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
