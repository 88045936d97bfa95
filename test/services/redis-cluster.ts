import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../e2e/process.js'

/**
 * A Redis Cluster of the test's own: three masters, each with `replicas` replicas (none
 * by default), on free ports, each node keeping nothing but its cluster config on disk, so
 * that a test can stop one node and start it again (empty, with its slots) without
 * touching the shared service.
 */
export interface PrivateRedisCluster {
  /** The seed nodes, comma-separated, as `connectRedis` takes them. */
  url: string
  ports: readonly number[]
  /** The index of the master that serves `key`'s slot. */
  nodeOf(key: string): Promise<number>
  /** The index of a replica of the master `index`. */
  replicaOf(index: number): Promise<number>
  /** Kills node `index`. */
  stopNode(index: number): Promise<void>
  /** Stops node `index` (SIGSTOP): its connections stay open, and it answers nothing. */
  pauseNode(index: number): void
  /** Lets a paused node go on (SIGCONT). */
  resumeNode(index: number): void
  /** Starts node `index` again and waits until the cluster is whole. */
  startNode(index: number): Promise<void>
  /** Kills every node and removes its files. */
  close(): Promise<void>
}

const MASTERS = 3
/** Short, so that a stopped master is noticed and a restarted one rejoins quickly. */
const NODE_TIMEOUT_MS = 1000

/** Why a Redis Cluster cannot be spawned here, or `undefined` when it can. */
export async function redisClusterUnavailable(): Promise<string | undefined> {
  for (const tool of ['redis-server', 'redis-cli']) {
    const missing = await new Promise<string | undefined>((resolve) => {
      execFile(tool, ['--version'], (error) =>
        resolve(error ? `${tool}: ${error.message}` : undefined),
      )
    })
    if (missing !== undefined) return missing
  }
  return undefined
}

function cli(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'redis-cli',
      ['-h', '127.0.0.1', '-p', String(port), ...args],
      { timeout: 10_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`redis-cli ${args.join(' ')}: ${stderr || error.message}`))
        else resolve(stdout)
      },
    )
  })
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export async function privateRedisCluster(
  options: { replicas?: number } = {},
): Promise<PrivateRedisCluster> {
  const replicas = options.replicas ?? 0
  const nodeCount = MASTERS * (1 + replicas)
  const root = mkdtempSync(join(tmpdir(), 'latchkey-redis-cluster-'))
  const ports: number[] = []
  const busPorts: number[] = []
  while (ports.length < nodeCount) {
    const port = await freePort()
    const busPort = await freePort()
    if (port === busPort || ports.includes(port) || busPorts.includes(busPort)) continue
    if (ports.includes(busPort) || busPorts.includes(port)) continue
    ports.push(port)
    busPorts.push(busPort)
  }
  const children: (ChildProcess | undefined)[] = ports.map(() => undefined)
  // Should the test process end without `close()`, no node outlives it.
  const onExit = () => {
    for (const child of children) child?.kill('SIGKILL')
    rmSync(root, { recursive: true, force: true })
  }
  process.once('exit', onExit)

  async function answers(port: number): Promise<boolean> {
    return (await cli(port, 'PING').catch(() => '')).trim() === 'PONG'
  }

  async function waitFor(check: () => Promise<boolean>, what: string, ms = 15_000) {
    const deadline = Date.now() + ms
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`Redis Cluster: timed out waiting for ${what}`)
      await pause(50)
    }
  }

  async function spawnNode(index: number): Promise<void> {
    const port = ports[index]
    const busPort = busPorts[index]
    if (port === undefined || busPort === undefined) throw new Error(`no node ${index}`)
    const dir = join(root, `node-${index}`)
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--cluster-port',
        String(busPort),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(root, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        String(NODE_TIMEOUT_MS),
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { stdio: 'ignore' },
    )
    children[index] = child
    await waitFor(() => answers(port), `node ${index} on port ${port}`)
  }

  async function killNode(index: number): Promise<void> {
    const running = children[index]
    children[index] = undefined
    if (running === undefined || running.exitCode !== null || running.signalCode !== null) return
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve())
      running.kill('SIGKILL')
    })
  }

  /**
   * Every node says the cluster is ok and knows every node and slot, and every master has
   * its replicas connected (they take a moment to copy it), each with its link up.
   */
  async function whole(): Promise<boolean> {
    for (const port of ports) {
      const info = await cli(port, 'CLUSTER', 'INFO').catch(() => '')
      if (!/cluster_state:ok/.test(info)) return false
      if (!/cluster_slots_ok:16384/.test(info)) return false
      if (!new RegExp(`cluster_known_nodes:${nodeCount}\\b`).test(info)) return false
      const replication = await cli(port, 'INFO', 'replication').catch(() => '')
      if (/role:master/.test(replication)) {
        if (!new RegExp(`connected_slaves:${replicas}\\b`).test(replication)) return false
      } else if (!/master_link_status:up/.test(replication)) return false
    }
    return true
  }

  const cluster: PrivateRedisCluster = {
    url: ports.map((port) => `redis://127.0.0.1:${port}`).join(','),
    ports,
    async nodeOf(key) {
      const [first] = ports
      if (first === undefined) throw new Error('no nodes')
      const slot = Number(await cli(first, 'CLUSTER', 'KEYSLOT', key))
      for (const [index, port] of ports.entries()) {
        const id = (await cli(port, 'CLUSTER', 'MYID')).trim()
        const nodes = await cli(port, 'CLUSTER', 'NODES')
        const mine = nodes.split('\n').find((line) => line.startsWith(`${id} `))
        const ranges = mine?.split(' ').slice(8) ?? []
        for (const range of ranges) {
          const [from, to] = range.split('-').map(Number)
          if (from !== undefined && from <= slot && slot <= (to ?? from)) return index
        }
      }
      throw new Error(`no node serves slot ${slot}`)
    },
    async replicaOf(index) {
      const master = ports[index]
      if (master === undefined) throw new Error(`no node ${index}`)
      const id = (await cli(master, 'CLUSTER', 'MYID')).trim()
      for (const [other, port] of ports.entries()) {
        const nodes = await cli(port, 'CLUSTER', 'NODES').catch(() => '')
        const mine = nodes.split('\n').find((line) => line.includes('myself'))
        if (mine?.split(' ')[3] === id) return other
      }
      throw new Error(`node ${index} has no replica`)
    },
    stopNode: killNode,
    pauseNode(index) {
      children[index]?.kill('SIGSTOP')
    },
    resumeNode(index) {
      children[index]?.kill('SIGCONT')
    },
    async startNode(index) {
      await spawnNode(index)
      await waitFor(whole, 'the cluster to be whole again')
    },
    async close() {
      process.off('exit', onExit)
      try {
        await Promise.all(ports.map((_, index) => killNode(index)))
      } finally {
        rmSync(root, { recursive: true, force: true })
      }
    },
  }

  try {
    ports.forEach((_, index) => mkdirSync(join(root, `node-${index}`)))
    await Promise.all(ports.map((_, index) => spawnNode(index)))
    const [first] = ports
    if (first === undefined) throw new Error('no nodes')
    await cli(
      first,
      '--cluster',
      'create',
      ...ports.map((port) => `127.0.0.1:${port}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    )
    await waitFor(whole, 'cluster_state:ok on every node')
  } catch (error) {
    await cluster.close()
    throw error
  }
  return cluster
}
