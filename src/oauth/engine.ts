/**
 * oidc-provider, loaded once, on demand (only a gateway with the
 * authorization server enabled pays for it).
 *
 * oidc-provider 9 prints "Unsupported runtime. Use Node.js v22.x LTS" on
 * Node.js 20 when it is imported. Portcullis supports Node.js ≥ 20 (SPEC §1)
 * and is tested with oidc-provider on it; that one notice is logged at info
 * level instead of on stderr (a start-up on safe defaults prints no warning).
 * Every other message of the library is left alone.
 */
import type * as Engine from 'oidc-provider';
import { type Logger } from '../lib/logger.js';

export type EngineModule = typeof Engine;

const RUNTIME_NOTICE = 'oidc-provider WARNING: Unsupported runtime';
let loaded: Promise<EngineModule> | null = null;

export function loadEngine(logger?: Logger): Promise<EngineModule> {
  loaded ??= (async () => {
    const warn = console.warn;
    console.warn = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].includes(RUNTIME_NOTICE)) {
        logger?.info({ node: process.version }, 'oidc-provider recommends Node.js 22 LTS; it runs on this version');
        return;
      }
      warn.apply(console, args);
    };
    try {
      return await import('oidc-provider');
    } finally {
      console.warn = warn;
    }
  })();
  return loaded;
}
