#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with Node's test runner (Node 20 has no
// glob support in `node --test`). Extra arguments are passed through, e.g. a filter:
// `npm test -- --test-name-pattern=csrf`.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import process from 'node:process'

const roots = ['src', 'test']
const files = roots
  .flatMap((root) => readdirSync(root, { recursive: true }).map((file) => join(root, String(file))))
  .filter((file) => file.endsWith('.test.ts'))
  .sort()

// A test, or a whole file, that takes longer fails with its name instead of holding the
// run: the slowest file takes well under a minute.
const TIMEOUT_MS = 5 * 60_000

const result = spawnSync(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-reporter=spec',
    `--test-timeout=${TIMEOUT_MS}`,
    ...process.argv.slice(2),
    ...files,
  ],
  { stdio: 'inherit' },
)
process.exit(result.status ?? 1)
