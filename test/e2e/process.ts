import { spawn, type ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url))

const dataDirs = new Set<string>()
process.once('exit', () => {
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true })
})

/** A fresh, empty folder for one server's data, removed when the test process exits. */
export async function tempDataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'latchkey-e2e-'))
  dataDirs.add(dir)
  return dir
}

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** Runs the `latchkey` command to completion; `signal` is sent once its output matches `when`. */
export function runCli(
  args: string[],
  env: Record<string, string>,
  signal?: { when: RegExp; send: NodeJS.Signals },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnCli(args, env)
  const output = { stdout: '', stderr: '' }
  let signalled = false
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream]?.on('data', (chunk: Buffer) => {
      output[stream] += chunk.toString()
      if (signal === undefined || signalled) return
      if (!signal.when.test(output.stdout + output.stderr)) return
      signalled = true
      child.kill(signal.send)
    })
  }
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, ...output })))
}

/** Longer than the server's own stop deadline (drain timeout + 5 s, 15 s by default). */
const STOP_TIMEOUT_MS = 20_000

/** A running `latchkey start`, resolved once it listens. */
export interface ServerProcess {
  url: string
  output: () => string
  /** SIGTERM, then waits for the exit; resolves to the exit code (`null` if it had exited). */
  stop(): Promise<number | null>
}

export async function startCli(env: Record<string, string>): Promise<ServerProcess> {
  const child = spawnCli(['start'], env)
  let output = ''
  const listening = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /listening on (\S+)/.exec(output)
      if (match !== null) resolve(match[1]!)
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.on('close', (code) => reject(new Error(`server exited with ${code}: ${output}`)))
  })
  const url = await listening
  return {
    url,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return null
      const closed = new Promise<number | null>((resolve) => child.on('close', resolve))
      child.kill('SIGTERM')
      // Past the server's own deadline, the stop itself is the failure.
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), STOP_TIMEOUT_MS)
      })
      const outcome = await Promise.race([closed, late])
      clearTimeout(timer)
      if (outcome === 'late') {
        child.kill('SIGKILL')
        await closed
        throw new Error(`the server did not stop within ${STOP_TIMEOUT_MS} ms: ${output}`)
      }
      return outcome
    },
  }
}

function spawnCli(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { PATH: process.env['PATH'] ?? '', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}
