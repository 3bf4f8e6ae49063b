/**
 * Cookies of the gateway's pages, read and written with the `cookie`
 * library (RFC 6265 parsing and serialization; no hand-written parsing).
 */
import { parse, serialize } from 'cookie';

/** The value of cookie `name` in a Cookie header (the first one, when repeated). */
export function cookieValue(header: string | string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (!text.includes(name)) return undefined;
  try {
    return parse(text)[name];
  } catch {
    return undefined;
  }
}

export interface CookieOptions {
  secure: boolean;
  /** Seconds; 0 expires it now. */
  maxAge: number;
  path?: string;
  sameSite?: 'lax' | 'strict';
}

/** `Set-Cookie` value: always HttpOnly; SameSite=Lax unless stated; Path=/ unless stated. */
export function setCookie(name: string, value: string, o: CookieOptions): string {
  return serialize(name, value, { httpOnly: true, secure: o.secure, sameSite: o.sameSite ?? 'lax', path: o.path ?? '/', maxAge: o.maxAge });
}

export function clearCookie(name: string, o: { secure: boolean; path?: string }): string {
  return serialize(name, '', { httpOnly: true, secure: o.secure, sameSite: 'lax', path: o.path ?? '/', maxAge: 0, expires: new Date(0) });
}
