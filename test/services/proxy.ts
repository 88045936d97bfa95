import { createConnection, createServer, type Server, type Socket } from 'node:net'

/**
 * A TCP proxy in front of a service, to take the service away from the code under test
 * and give it back: `cut()` drops every connection and refuses new ones, as a network
 * failure or a stopped server would; `restore()` lets connections through again.
 */
export interface Cuttable {
  /** `host:port` to connect to instead of the service. */
  host: string
  port: number
  cut(): void
  restore(): void
  close(): Promise<void>
}

export async function tcpProxy(target: { host: string; port: number }): Promise<Cuttable> {
  const sockets = new Set<Socket>()
  let open = true
  const server: Server = createServer((client) => {
    if (!open) {
      client.destroy()
      return
    }
    const upstream = createConnection(target)
    sockets.add(client)
    sockets.add(upstream)
    const drop = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no proxy address')
  return {
    host: '127.0.0.1',
    port: address.port,
    cut() {
      open = false
      for (const socket of sockets) socket.destroy()
      sockets.clear()
    },
    restore() {
      open = true
    },
    close() {
      open = false
      for (const socket of sockets) socket.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
