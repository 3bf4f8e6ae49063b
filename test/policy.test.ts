import { describe, expect, it } from 'vitest';
import { type Grant } from '../src/config/schema.js';
import { classify, compileGroup, evaluate, visibility, type PolicyGroup, type PolicySubject } from '../src/policy/index.js';

const g = (...grants: Grant[]): PolicyGroup => ({ grants });
const groups = new Map<string, PolicyGroup>([
  ['eng', g({ server: 'demo', tools: ['echo', 'read_*'], access_level: 'execute' })],
  ['viewers', g({ server: 'demo', tools: ['*'], access_level: 'read' })],
  ['files', g({ server: 'files', tools: ['list'], resources: ['file:///pub/*'], prompts: ['summarize'], access_level: 'execute' })],
  ['anywhere', g({ server: '*', tools: ['status'], access_level: 'execute' })],
]);
const user = (p: Partial<PolicySubject> = {}): PolicySubject => ({ role: 'user', groups: [], scopes: null, servers: null, ...p });
const call = (server: string, tool: string) => classify(server, 'tools/call', { name: tool });

describe('policy: evaluate', () => {
  it('denies by default: no groups, no access, not even initialize', () => {
    const d = evaluate(user(), groups, classify('demo', 'initialize', {}));
    expect(d).toMatchObject({ allow: false, reason: 'no_grant' });
    expect(evaluate(user(), groups, call('demo', 'echo')).allow).toBe(false);
  });

  it('execute grants allow tools/call by exact name and glob', () => {
    const p = user({ groups: ['eng'] });
    expect(evaluate(p, groups, call('demo', 'echo')).allow).toBe(true);
    expect(evaluate(p, groups, call('demo', 'read_file')).allow).toBe(true);
    const denied = evaluate(p, groups, call('demo', 'delete_all'));
    expect(denied).toMatchObject({ allow: false, reason: 'no_grant' });
    expect(!denied.allow && denied.message).toContain('tool delete_all');
    expect(!denied.allow && denied.message).toContain('demo');
  });

  it('a grant on one server gives nothing on another; "*" matches every server', () => {
    const p = user({ groups: ['eng', 'anywhere'] });
    expect(evaluate(p, groups, call('files', 'echo')).allow).toBe(false);
    expect(evaluate(p, groups, call('files', 'status')).allow).toBe(true);
    expect(evaluate(p, groups, call('other', 'status')).allow).toBe(true);
  });

  it('read allows listing and session methods but not tools/call', () => {
    const p = user({ groups: ['viewers'] });
    for (const m of ['initialize', 'ping', 'notifications/initialized', 'tools/list', 'resources/list', 'prompts/list', 'resources/templates/list', 'logging/setLevel'])
      expect(evaluate(p, groups, classify('demo', m, {})).allow, m).toBe(true);
    expect(evaluate(p, groups, call('demo', 'echo')).allow).toBe(false);
    expect(evaluate(p, groups, classify('demo', 'resources/read', { uri: 'x://y' })).allow).toBe(false);
    expect(evaluate(p, groups, classify('demo', 'prompts/get', { name: 'p' })).allow).toBe(false);
    expect(evaluate(p, groups, classify('demo', 'completion/complete', { ref: { type: 'ref/prompt', name: 'p' } })).allow).toBe(false);
    // read allows subscribing to a resource it can see
    expect(evaluate(p, groups, classify('demo', 'resources/subscribe', { uri: 'x://y' })).allow).toBe(true);
    expect(evaluate(p, groups, classify('demo', 'tasks/get', { taskId: 't' })).allow).toBe(true);
    expect(evaluate(p, groups, classify('demo', 'tasks/result', { taskId: 't' })).allow).toBe(false);
  });

  it('resources and prompts use their own globs, defaulting to tools', () => {
    const p = user({ groups: ['files', 'eng'] });
    expect(evaluate(p, groups, classify('files', 'resources/read', { uri: 'file:///pub/a.txt' })).allow).toBe(true);
    expect(evaluate(p, groups, classify('files', 'resources/read', { uri: 'file:///etc/passwd' })).allow).toBe(false);
    expect(evaluate(p, groups, classify('files', 'prompts/get', { name: 'summarize' })).allow).toBe(true);
    expect(evaluate(p, groups, classify('files', 'prompts/get', { name: 'list' })).allow).toBe(false);
    // on demo, resources/prompts default to the tools globs
    expect(evaluate(p, groups, classify('demo', 'prompts/get', { name: 'read_me' })).allow).toBe(true);
    expect(evaluate(p, groups, classify('demo', 'resources/read', { uri: 'echo' })).allow).toBe(true);
    expect(evaluate(p, groups, classify('files', 'completion/complete', { ref: { type: 'ref/resource', uri: 'file:///pub/x' } })).allow).toBe(true);
    expect(evaluate(p, groups, classify('files', 'completion/complete', { ref: { type: 'ref/prompt', name: 'other' } })).allow).toBe(false);
  });

  it('malformed params and unknown methods are denied (admins may use unknown methods)', () => {
    const p = user({ groups: ['eng'] });
    expect(evaluate(p, groups, classify('demo', 'tools/call', {}))).toMatchObject({ allow: false, reason: 'invalid_params' });
    expect(evaluate(p, groups, classify('demo', 'completion/complete', { ref: { type: 'ref/x' } }))).toMatchObject({ allow: false, reason: 'invalid_params' });
    expect(evaluate(p, groups, classify('demo', 'vendor/secret', {}))).toMatchObject({ allow: false, reason: 'unknown_method' });
    expect(evaluate(user({ role: 'admin' }), groups, classify('demo', 'vendor/secret', {})).allow).toBe(true);
  });

  it('admins may call anything, within their token scopes and server restriction', () => {
    const admin = user({ role: 'admin' });
    expect(evaluate(admin, groups, call('anything', 'rm_rf')).allow).toBe(true);
    expect(evaluate({ ...admin, servers: ['demo'] }, groups, call('files', 'x'))).toMatchObject({ allow: false, reason: 'server_not_allowed' });
    expect(evaluate({ ...admin, scopes: ['mcp:read'] }, groups, call('demo', 'x'))).toMatchObject({ allow: false, reason: 'insufficient_scope', scope: 'mcp:execute' });
  });

  it('token scopes narrow: mcp:read lists but cannot execute; mcp:execute implies read; api scopes give no MCP access', () => {
    const readOnly = user({ groups: ['eng'], scopes: ['mcp:read'] });
    expect(evaluate(readOnly, groups, classify('demo', 'tools/list', {})).allow).toBe(true);
    expect(evaluate(readOnly, groups, call('demo', 'echo'))).toMatchObject({ allow: false, reason: 'insufficient_scope', scope: 'mcp:execute' });
    const exec = user({ groups: ['eng'], scopes: ['mcp:execute'] });
    expect(evaluate(exec, groups, classify('demo', 'tools/list', {})).allow).toBe(true);
    expect(evaluate(exec, groups, call('demo', 'echo')).allow).toBe(true);
    const api = user({ groups: ['eng'], scopes: ['api:write'] });
    expect(evaluate(api, groups, classify('demo', 'initialize', {}))).toMatchObject({ allow: false, reason: 'insufficient_scope', scope: 'mcp:read' });
  });

  it('a missing grant is reported as no_grant even when the scope is missing too', () => {
    const p = user({ groups: ['eng'], scopes: ['mcp:read'] });
    expect(evaluate(p, groups, call('demo', 'delete_all'))).toMatchObject({ allow: false, reason: 'no_grant' });
  });

  it('token server restriction narrows a user with grants', () => {
    const p = user({ groups: ['eng', 'files'], servers: ['files'] });
    expect(evaluate(p, groups, call('demo', 'echo'))).toMatchObject({ allow: false, reason: 'server_not_allowed' });
    expect(evaluate(p, groups, call('files', 'list')).allow).toBe(true);
  });

  it('unknown group names grant nothing', () => {
    expect(evaluate(user({ groups: ['ghost'] }), groups, classify('demo', 'tools/list', {})).allow).toBe(false);
  });
});

describe('policy: visibility for list filtering', () => {
  it('shows items matched by any grant; hides the rest', () => {
    const v = visibility(user({ groups: ['eng', 'files'] }), groups, 'files');
    expect(v.tool('list')).toBe(true);
    expect(v.tool('echo')).toBe(false);
    expect(v.resource('file:///pub/a')).toBe(true);
    expect(v.resource('file:///etc/passwd')).toBe(false);
    expect(v.prompt('summarize')).toBe(true);
    const d = visibility(user({ groups: ['viewers'] }), groups, 'demo');
    expect(d.tool('anything')).toBe(true);
  });

  it('admins see all; restricted tokens and missing mcp:read see nothing', () => {
    expect(visibility(user({ role: 'admin' }), groups, 'x').all).toBe(true);
    expect(visibility(user({ role: 'admin', servers: ['y'] }), groups, 'x').tool('a')).toBe(false);
    expect(visibility(user({ groups: ['eng'], scopes: ['api:read'] }), groups, 'demo').tool('echo')).toBe(false);
    expect(visibility(user(), groups, 'demo').tool('echo')).toBe(false);
  });
});

describe('policy: compiled grants', () => {
  it('compiles each group version once', () => {
    const grp = g({ server: 'demo', tools: ['a*'], access_level: 'execute' });
    const first = compileGroup(grp);
    expect(compileGroup(grp)).toBe(first);
    const replaced = g({ server: 'demo', tools: ['b*'], access_level: 'execute' });
    expect(compileGroup(replaced)).not.toBe(first);
    expect(compileGroup(replaced)[0].tools('bx')).toBe(true);
  });

  it('glob metacharacters other than * are literal', () => {
    const grp = new Map([['x', g({ server: 'demo', tools: ['a.b', 'c?d'], access_level: 'execute' })]]);
    const p = user({ groups: ['x'] });
    expect(evaluate(p, grp, call('demo', 'a.b')).allow).toBe(true);
    expect(evaluate(p, grp, call('demo', 'aXb')).allow).toBe(false);
    expect(evaluate(p, grp, call('demo', 'cxd')).allow).toBe(false);
  });
});
