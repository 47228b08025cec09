import net from 'node:net';

/**
 * Makes every TCP connect to an address outside loopback throw (and records it), so a test of
 * the address guard can never send a packet off the machine, even when the guard is broken.
 * Unix sockets (the embedded database) pass. Undo with jest.restoreAllMocks().
 */
export function blockOffLoopbackConnects(): string[] {
  const blocked: string[] = [];
  const connect = net.Socket.prototype.connect;
  jest.spyOn(net.Socket.prototype, 'connect').mockImplementation(function (this: net.Socket, ...args: unknown[]) {
    const options = args[0] as { host?: string; path?: string } | number;
    const host = typeof options === 'object' ? options.host : (args[1] as string | undefined);
    if (typeof options === 'object' && options.path === undefined && host && !/^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(host)) {
      blocked.push(host);
      throw new Error(`test: blocked a connection to ${host}`);
    }
    return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof connect);
  return blocked;
}
