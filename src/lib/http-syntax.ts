/**
 * HTTP field syntax shared by everything that reads or writes HTTP heads:
 * the config loader, stored per-user credentials and the upstream client.
 */

/** A field name: an RFC 9110 token. */
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * A character a field value may not hold when written: anything but HTAB,
 * SP, visible ASCII and obs-text (what node:http and undici accept). Heads
 * are written as latin1, so a character above U+00FF is refused too: its low
 * byte could be a CR or LF (U+010D, U+010A) and split the head.
 */
export const BAD_FIELD_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

/** Request headers the gateway sets itself (framing, hop-by-hop): never configured, never forwarded. */
export const RESERVED_REQUEST_HEADERS: ReadonlySet<string> = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'expect', 'te', 'trailer', 'proxy-connection']);
