// valgrind's callgrind as a third measure of the protected-route benchmark: the server runs
// under it, and each run reports the instructions the server executed, all its threads
// (JIT, garbage collection) included, divided by the requests it answered. A count does not
// move with what else the machine is doing, where throughput on a small virtual machine
// swings by 10–30 % from one few-second stretch to the next; it leaves out the kernel's
// share (the socket writes), so it shows what the server's own code costs per request.
// Valgrind runs the server some 50 times slower: runs are counted in requests, not seconds.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Whether valgrind (with callgrind_control) is installed. */
export function callgrindAvailable(): boolean {
  return (
    spawnSync('valgrind', ['--version']).error === undefined &&
    spawnSync('callgrind_control', ['--version']).error === undefined
  )
}

/** Server processes under callgrind, one after the other, counted run by run. */
export interface Callgrind {
  /** The command that runs the server's Node under callgrind, counting nothing yet. */
  launcher: readonly string[]
  /** The process to control from now on: the one just launched. */
  attach(pid: number): void
  /** Runs `load` with counting on; the instructions the server executed meanwhile. */
  count<T>(load: () => Promise<T>): Promise<{ result: T; instructions: number }>
  /** Removes its files. */
  close(): void
}

/** A callgrind session for one server process. */
export function callgrind(): Callgrind {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-callgrind-'))
  // Both sides name the control pipes by this prefix, not by the user and HOST they see.
  const prefix = join(dir, 'vgdb')
  const out = join(dir, 'callgrind.out')
  let pid: number | undefined
  let environment: NodeJS.ProcessEnv = process.env
  let dumps = 0
  const control = (...args: string[]) => {
    if (pid === undefined) throw new Error('callgrind: no process attached')
    execFileSync('callgrind_control', [`--vgdb-prefix=${prefix}`, ...args, String(pid)], {
      stdio: 'pipe',
      env: environment,
    })
  }
  return {
    launcher: [
      'valgrind',
      '--quiet',
      '--tool=callgrind',
      '--instr-atstart=no',
      `--vgdb-prefix=${prefix}`,
      // One file per process (%p): a session may count several servers in turn.
      `--callgrind-out-file=${out}.%p`,
    ],
    attach(id) {
      pid = id
      dumps = 0
      environment = withPipeNames(id)
    },
    async count(load) {
      control('--zero')
      control('--instr=on')
      const result = await load()
      control('--instr=off')
      control('--dump=run')
      dumps += 1
      const dump = readFileSync(`${out}.${pid}.${dumps}`, 'utf8')
      const totals = /^totals: (\d+)$/m.exec(dump)
      if (totals === null) throw new Error(`callgrind: no totals in dump ${dumps}`)
      return { result, instructions: Number(totals[1]) }
    },
    close() {
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/**
 * This process's environment with the variables valgrind names its control pipes by
 * (beyond the prefix: the user and the host) as the server's environment has them, set or
 * unset: a bench server may set HOST to listen on, and callgrind_control must see the same
 * names to find the pipes.
 */
function withPipeNames(pid: number): NodeJS.ProcessEnv {
  const theirs = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
  const environment = { ...process.env }
  for (const name of ['LOGNAME', 'USER', 'HOST', 'HOSTNAME']) {
    const entry = theirs.find((line) => line.startsWith(`${name}=`))
    if (entry === undefined) delete environment[name]
    else environment[name] = entry.slice(name.length + 1)
  }
  return environment
}
