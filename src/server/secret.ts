import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { MIN_SECRET_BYTES } from '../config.js'
import { ConfigError } from '../errors.js'

export const SECRET_FILE = 'secret'

/**
 * The development master secret: read from the data folder, or generated there on the
 * first start (readable by the owner only). Production never comes here.
 */
export async function developmentSecret(
  dataDir: string,
  warn: (message: string) => void,
): Promise<string> {
  const path = join(dataDir, SECRET_FILE)
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  try {
    await writeFile(path, `${randomBytes(48).toString('base64url')}\n`, {
      flag: 'wx',
      mode: 0o600,
    })
    warn(
      `LATCHKEY_SECRET is not set: generated a development secret in ${path}. ` +
        'Set LATCHKEY_SECRET (the same on every node) in production.',
    )
  } catch (error) {
    // Already there (an earlier start, or another process that won the race): use it.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
  const secret = (await readFile(path, 'utf8')).trim()
  if (Buffer.byteLength(secret) < MIN_SECRET_BYTES) {
    throw new ConfigError(`${path} holds a secret shorter than ${MIN_SECRET_BYTES} bytes.`)
  }
  return secret
}
