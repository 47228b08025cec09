import dns from 'node:dns';
import net from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Refuses targets that resolve to loopback, private, link-local (cloud metadata included),
 * multicast or otherwise non-public addresses, unless the operator allows private networks.
 * Used at save/verification time (`checkTargetHost`) and at connect time (`guardedLookup`,
 * given to the HTTP sender as its DNS hook, so a name that re-resolves elsewhere is caught).
 */

export class TargetAddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetAddressError';
  }
}

function parseAddress(address: string): ipaddr.IPv4 | ipaddr.IPv6 {
  const parsed = ipaddr.parse(address);
  return parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress() ? (parsed as ipaddr.IPv6).toIPv4Address() : parsed;
}

/** The one range ipaddr.js calls public; everything else (private, loopback, linkLocal ...) is refused. */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  return parseAddress(address).range() === 'unicast';
}

/** `10.1.2.0/24`, `fd00::/8` ... (ALLOWED_TARGET_CIDRS). */
export function isValidCidr(cidr: string): boolean {
  try {
    ipaddr.parseCIDR(cidr);
    return true;
  } catch {
    return false;
  }
}

/** Public, or inside one of the operator's allowed CIDRs (an IPv4-mapped IPv6 address counts as its IPv4 address). */
export function isAllowedAddress(address: string, allowedCidrs: readonly string[] = []): boolean {
  if (isPublicAddress(address)) return true;
  if (allowedCidrs.length === 0 || !ipaddr.isValid(address)) return false;
  const parsed = parseAddress(address);
  return allowedCidrs.some((cidr) => {
    const range = ipaddr.parseCIDR(cidr);
    return range[0].kind() === parsed.kind() && parsed.match(range);
  });
}

function refusal(host: string, address: string): TargetAddressError {
  return new TargetAddressError(
    `The target host ${host} resolves to ${address}, a loopback, private, link-local or otherwise non-public address; ` +
      'webhooks may only target public addresses. An operator can allow private networks with ALLOW_PRIVATE_TARGETS=true, or some ranges with ALLOWED_TARGET_CIDRS.',
  );
}

/** Resolves a URL's host and refuses it when any of its addresses is neither public nor in `allowedCidrs`. */
export async function checkTargetHost(hostname: string, allowPrivate: boolean, allowedCidrs: readonly string[] = []): Promise<void> {
  if (allowPrivate) return;
  const host = hostname.replace(/^\[|\]$/g, '');
  const addresses = net.isIP(host)
    ? [host]
    : await dns.promises.lookup(host, { all: true, verbatim: true }).then(
        (list) => list.map((entry) => entry.address),
        (error: NodeJS.ErrnoException) => {
          throw new TargetAddressError(`The target host ${host} could not be resolved (${error.code ?? error.message}); check the TargetUrl.`);
        },
      );
  const bad = addresses.find((address) => !isAllowedAddress(address, allowedCidrs));
  if (bad !== undefined) throw refusal(host, bad);
}

/**
 * The guard for IP-literal hosts at send time: DNS lookup hooks are not called for them, so the
 * sender checks them here. Returns why the target is refused, or null (also for an invalid URL:
 * the sender reports that).
 */
export function refuseIpLiteralTarget(targetUrl: string, allowPrivate: boolean, allowedCidrs: readonly string[] = []): string | null {
  if (allowPrivate) return null;
  let host: string;
  try {
    host = new URL(targetUrl).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return null;
  }
  if (!net.isIP(host) || isAllowedAddress(host, allowedCidrs)) return null;
  return refusal(host, host).message;
}

/** A `lookup` for the sender's connections (senderAgent.ts) that refuses non-public addresses (outside `allowedCidrs`) at connect time. */
export function guardedLookup(allowPrivate: boolean, allowedCidrs: readonly string[] = []): net.LookupFunction | undefined {
  if (allowPrivate) return undefined;
  return ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error);
      const list = addresses as dns.LookupAddress[];
      const bad = list.find((entry) => !isAllowedAddress(entry.address, allowedCidrs));
      if (bad) return callback(refusal(hostname, bad.address));
      if (options.all) return callback(null, list);
      callback(null, list[0].address, list[0].family);
    });
  }) as net.LookupFunction;
}
