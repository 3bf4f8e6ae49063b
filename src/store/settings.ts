import { type Db } from './db.js';

export class SettingsStore {
  constructor(private readonly db: Db) {}

  async get(key: string): Promise<string | undefined> {
    const r = await this.db.kysely.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
    return r?.value;
  }

  /** Set the value only if the key is absent; returns the value that is stored afterwards. */
  async getOrInit(key: string, make: () => string): Promise<string> {
    const existing = await this.get(key);
    if (existing !== undefined) return existing;
    await this.db.kysely.insertInto('settings').values({ key, value: make() }).onConflict((oc) => oc.column('key').doNothing()).execute();
    return (await this.get(key))!;
  }
}
