import net from 'node:net';
import { createTestDatabase, type TestDatabase } from './testDatabase';

/**
 * A TCP proxy on 127.0.0.1 in front of a real server, for outages without touching the server:
 * `cut()` drops every open connection (the client sees them reset mid-query) and refuses new
 * ones; `restore()` accepts again on the same port.
 */
export interface TcpProxy {
  port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
  /**
   * PostgreSQL only. While on, each new connection is passed through until the server's first
   * ReadyForQuery, which reaches the client in one packet with a FATAL 57P01 (what
   * pg_terminate_backend sends), and the connection ends: a backend terminated the moment its
   * startup finished. The client reads both before any of its code runs on the connection.
   */
  terminateAtStartup(on: boolean): void;
  /** How many connections terminateAtStartup ended. */
  readonly terminatedAtStartup: number;
  /**
   * The next packet from the server that contains `marker` (a column name in a RowDescription,
   * a command tag such as COMMIT) is never delivered: its connection is cut instead. The server
   * has done the work; the client sees its connection fail and cannot know that it did.
   */
  loseAnswerContaining(marker: string): void;
  /** How many answers loseAnswerContaining lost. */
  readonly answersLost: number;
  /** How many packets containing the last marker were delivered after the lost one (the client's next try shows here). */
  readonly answersAfterLoss: number;
}

/** An ErrorResponse as PostgreSQL sends it when pg_terminate_backend ends a backend. */
function adminShutdownMessage(): Buffer {
  const fields = Buffer.from('SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0', 'utf8');
  const head = Buffer.alloc(5);
  head.write('E', 0);
  head.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([head, fields]);
}

/** The length of the server's messages up to and including its first ReadyForQuery ('Z'), or null while incomplete. */
function throughFirstReady(buffer: Buffer): number | null {
  let offset = 0;
  while (offset + 5 <= buffer.length) {
    const end = offset + 1 + buffer.readInt32BE(offset + 1);
    if (end > buffer.length) return null;
    if (buffer[offset] === 0x5a) return end;
    offset = end;
  }
  return null;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  let terminating = false;
  let terminated = 0;
  let marker: Buffer | null = null;
  let losing = false;
  let lost = 0;
  let afterLoss = 0;
  let server = createServer();
  function createServer(): net.Server {
    return net.createServer((client) => {
      const upstream = net.connect(targetPort, targetHost);
      track(client);
      track(upstream);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      if (!terminating) {
        client.pipe(upstream);
        upstream.on('data', (chunk: Buffer) => {
          if (marker && chunk.includes(marker)) {
            if (losing) {
              losing = false;
              lost += 1;
              client.resetAndDestroy();
              upstream.destroy();
              return;
            }
            afterLoss += 1;
          }
          if (!client.write(chunk)) {
            upstream.pause();
            client.once('drain', () => upstream.resume());
          }
        });
        upstream.once('end', () => client.end());
        return;
      }
      client.pipe(upstream);
      let answered = Buffer.alloc(0);
      upstream.on('data', (chunk: Buffer) => {
        answered = Buffer.concat([answered, chunk]);
        const ready = throughFirstReady(answered);
        if (ready === null) return;
        terminated += 1;
        client.end(Buffer.concat([answered.subarray(0, ready), adminShutdownMessage()]));
        upstream.destroy();
      });
    });
  }
  const listen = (port: number) => new Promise<number>((resolve) => server.listen(port, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
  const port = await listen(0);
  const cut = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.resetAndDestroy();
    await closed;
  };
  return {
    port,
    cut,
    async restore() {
      server = createServer();
      await listen(port);
    },
    async close() {
      if (server.listening) await cut();
    },
    terminateAtStartup(on: boolean) {
      terminating = on;
    },
    get terminatedAtStartup() {
      return terminated;
    },
    loseAnswerContaining(text: string) {
      marker = Buffer.from(text, 'utf8');
      losing = true;
      lost = 0;
      afterLoss = 0;
    },
    get answersLost() {
      return lost;
    },
    get answersAfterLoss() {
      return afterLoss;
    },
  };
}

/**
 * A fresh database on the PostgreSQL server of DATABASE_URL, and a proxy in front of it: `url`
 * reaches the database through the proxy (127.0.0.1), for a service whose connections a test cuts.
 */
export async function databaseBehindProxy(): Promise<{ database: TestDatabase; proxy: TcpProxy; url: string }> {
  const database = await createTestDatabase();
  const direct = new URL(database.env.DATABASE_URL!);
  const proxy = await startTcpProxy(direct.hostname, Number(direct.port || 5432));
  const viaProxy = new URL(direct);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  return { database, proxy, url: viaProxy.toString() };
}

/**
 * `it` where a proxy can go in front of a PostgreSQL server (DATABASE_URL is set; `.ci/run` runs
 * every suite on one too), otherwise `it.skip`, saying so once for `file`.
 */
export function itBehindProxy(file: string): jest.It {
  if (process.env.DATABASE_URL) return it;
  // eslint-disable-next-line no-console
  console.log(`${file}: SKIPPED (needs DATABASE_URL: a PostgreSQL server to put a proxy in front of).`);
  return it.skip;
}
