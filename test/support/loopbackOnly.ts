import dns from 'node:dns';
import net from 'node:net';

/**
 * Makes every TCP connect to an address outside loopback fail (and records it), so a test of
 * the address guard can never send a packet off the machine, even when the guard is broken.
 * An IP literal is checked at once; a name is checked where it resolves (the connect's own
 * lookup, or dns.lookup, is wrapped), since only the address says where the packet would go.
 * Unix sockets (the embedded database) pass. Undo with jest.restoreAllMocks().
 */
export function blockOffLoopbackConnects(): string[] {
  const blocked: string[] = [];
  const connect = net.Socket.prototype.connect;
  jest.spyOn(net.Socket.prototype, 'connect').mockImplementation(function (this: net.Socket, ...args: unknown[]) {
    // net.connect and tls.connect (undici among them) pass their normalized arguments as one array.
    const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
    const options: { host?: string; path?: string; lookup?: net.LookupFunction } | null =
      typeof first === 'object' && first !== null ? first : typeof first === 'number' ? { host: (args[1] as string | undefined) ?? 'localhost' } : null;
    if (options && options.path === undefined) {
      const host = options.host ?? 'localhost';
      if (net.isIP(host)) {
        if (!isLoopback(host)) {
          blocked.push(host);
          throw new Error(`test: blocked a connection to ${host}`);
        }
      } else if (typeof first === 'object') {
        const lookup = (options.lookup ?? dns.lookup) as (...a: unknown[]) => void;
        options.lookup = ((hostname: string, lookupOptions: unknown, callback: (...r: unknown[]) => void) => {
          lookup(hostname, lookupOptions, (error: unknown, address: unknown, family: unknown) => {
            const addresses = Array.isArray(address) ? (address as Array<{ address: string }>).map((a) => a.address) : [address as string];
            const outside = error ? undefined : addresses.find((a) => typeof a === 'string' && !isLoopback(a));
            if (outside) {
              blocked.push(`${hostname} (${outside})`);
              return callback(new Error(`test: blocked a connection to ${hostname} at ${outside}`));
            }
            callback(error, address, family);
          });
        }) as net.LookupFunction;
      }
    }
    return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof connect);
  return blocked;
}

function isLoopback(address: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/i.test(address);
}
