import { BlockList, isIP } from 'node:net';
import { WardError } from '../errors.ts';

/**
 * Reads WARD_TRUST_PROXY: the comma-separated addresses and CIDR blocks of the reverse proxies
 * in front of Ward (undefined when unset: no proxy is trusted and `req.ip` is the socket's
 * peer). Only a listed proxy's `X-Forwarded-For` is believed, and only the part it appended,
 * so a client cannot choose its own address. Behind a proxy that is not listed every client
 * has the proxy's address: one client's failed logins throttle everyone's, and audit events
 * record the proxy. "Trust everyone" (`true`, `*`, `/0`) is refused, as it lets any client
 * name its address.
 */
export function trustProxyFromEnv(env: NodeJS.ProcessEnv): string[] | undefined {
  const raw = env['WARD_TRUST_PROXY'];
  if (raw === undefined || raw.trim() === '') return undefined;
  const entries = raw.split(',').map((e) => e.trim());
  for (const entry of entries) {
    if (!isProxyAddress(entry)) {
      throw new WardError(
        'config_invalid',
        'WARD_TRUST_PROXY must list the proxies as IP addresses or CIDR blocks (prefix /1 or longer), separated by commas',
      );
    }
  }
  return entries;
}

function isProxyAddress(entry: string): boolean {
  const [address = '', prefix, extra] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  const bits = Number(prefix);
  return bits >= 1 && bits <= (family === 4 ? 32 : 128);
}

/**
 * A test of whether a socket peer is one of the trusted proxies (entries as accepted by
 * `trustProxyFromEnv`). Only such a peer may name the request's id (`X-Request-Id`): a client
 * that picks its own could reuse another request's id and blur the audit trail. An
 * IPv4-mapped peer (`::ffff:10.0.0.1`, a dual-stack socket) matches its IPv4 entry.
 */
export function trustedPeer(
  entries: readonly string[] | undefined,
): (address: string | undefined) => boolean {
  if (!entries || entries.length === 0) return () => false;
  const proxies = new BlockList();
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) proxies.addAddress(address, family);
    else proxies.addSubnet(address, Number(prefix), family);
  }
  return (address) => {
    const peer = address?.replace(/%.*$/, '');
    if (!peer) return false;
    const family = isIP(peer);
    return family !== 0 && proxies.check(peer, family === 6 ? 'ipv6' : 'ipv4');
  };
}
