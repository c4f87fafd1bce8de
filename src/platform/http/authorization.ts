/**
 * The credentials of an `Authorization: Bearer <credentials>` header, or undefined when the
 * header is absent or of another scheme. The scheme name is case-insensitive (RFC 9110
 * §11.1: `bearer`, `BEARER` and `Bearer` are the same scheme); everything after it, including
 * the single space that ends it, is left as strict as the caller's token parser makes it.
 */
export function bearerCredentials(header: unknown): string | undefined {
  if (typeof header !== 'string' || header.length < 8 || header.charCodeAt(6) !== 0x20) {
    return undefined;
  }
  return header.slice(0, 6).toLowerCase() === 'bearer' ? header.slice(7).trim() : undefined;
}
