import { spawn, type ChildProcess } from 'node:child_process'
import { createConnection } from 'node:net'
import { Redis } from 'ioredis'
import { freePort } from '../e2e/process.js'

/** The Redis the tests use: TEST_REDIS_URL, or the local service. */
export const redisUrl = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379'

/** Why Redis cannot be used, or `undefined` when it answers PING. */
export function redisUnreachable(url = redisUrl): Promise<string | undefined> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname, port: Number(port || 6379) })
    const done = (reason: string | undefined) => {
      socket.destroy()
      resolve(reason)
    }
    socket.setTimeout(2_000, () => done('timed out'))
    socket.on('error', (error) => done(error.message))
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (data) =>
      done(data.toString().startsWith('+PONG') ? undefined : data.toString()),
    )
  })
}

/**
 * Deletes every key a test left under `prefix` in the Redis at `url`, with those whose hash
 * tag begins with it: the revocation log of a channel named `<prefix>…` is
 * `{<prefix>…}:log`, and keeps no TTL.
 */
export async function dropKeys(prefix: string, url = redisUrl): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await redis.connect()
  try {
    for (const pattern of [`${prefix}*`, `{${prefix}*`]) {
      let cursor = '0'
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500)
        if (found.length > 0) await redis.del(...found)
        cursor = next
      } while (cursor !== '0')
    }
  } finally {
    redis.disconnect()
  }
}

/**
 * A redis-server of the test's own on a free port, keeping nothing on disk, so that a
 * test can stop it and start it again (empty, as a restarted cache is) without touching
 * the shared service.
 */
export interface PrivateRedis {
  url: string
  port: number
  start(): Promise<void>
  stop(): Promise<void>
}

export async function privateRedis(): Promise<PrivateRedis> {
  const port = await freePort()
  let child: ChildProcess | undefined
  const server: PrivateRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdio: 'ignore' },
      )
      for (let attempt = 0; attempt < 100; attempt++) {
        if ((await redisUnreachable(server.url)) === undefined) return
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      throw new Error(`redis-server did not start on port ${port}`)
    },
    async stop() {
      const running = child
      child = undefined
      if (running === undefined || running.exitCode !== null) return
      await new Promise<void>((resolve) => {
        running.once('exit', () => resolve())
        running.kill('SIGKILL')
      })
    },
  }
  await server.start()
  return server
}
