import { isIP } from 'node:net';
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
