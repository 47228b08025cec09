/**
 * The connection pool webhook POSTs go through: an undici Agent, one keep-alive pool per
 * origin. The address guard's DNS hook sits in its connect options, so every new connection
 * (pooled or not, http or https) is checked on the address it actually connects to.
 */
import type * as net from 'node:net';
import type * as tls from 'node:tls';
import { Agent } from 'undici';

export interface SenderAgentOptions {
  /** DNS hook for every new connection (addressGuard.guardedLookup). Not called for IP-literal hosts. */
  lookup?: net.LookupFunction;
  /** Connections per origin at most (a worker's concurrency). Default: no bound. */
  connections?: number;
  /**
   * The sends' own whole-request timeout. A connect still open when its send timed out is
   * ended a little after it (undici's connect timer is coarse), not left to the OS's minutes.
   * Default: connects time out after 10 s.
   */
  sendTimeoutMs?: number;
  /** CAs to trust instead of node's (a test receiver's own certificate). Certificates are always verified. */
  ca?: tls.SecureContextOptions['ca'];
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** undici's timers above 1 s may fire up to half a second early: the send's own timer goes first. */
const CONNECT_BACKSTOP_MS = 1000;

export function createSenderAgent(options: SenderAgentOptions = {}): Agent {
  return new Agent({
    connections: options.connections ?? null,
    // One request at a time per connection: a slow receiver must not hold up the next POST.
    pipelining: 1,
    connect: {
      timeout: options.sendTimeoutMs === undefined ? DEFAULT_CONNECT_TIMEOUT_MS : options.sendTimeoutMs + CONNECT_BACKSTOP_MS,
      ...(options.lookup && { lookup: options.lookup }),
      ...(options.ca && { ca: options.ca }),
    },
  });
}
