/**
 * The MCP authorization policy: a pure function of the caller, the current
 * group definitions and the action. Deny by default. Admins may do anything
 * their token's scopes and server restriction allow; everyone else needs a
 * grant from one of their groups.
 */
import { type Grant, type Role } from '../config/schema.js';
import { compileGlob } from '../lib/glob.js';
import { actionTarget, requiredScope, type AccessLevel, type McpAction } from './actions.js';

/** The caller as the policy sees it (a structural subset of auth's Principal). */
export interface PolicySubject {
  role: Role;
  groups: readonly string[];
  /** null = no scope restriction. */
  scopes: readonly string[] | null;
  /** null = no server restriction. */
  servers: readonly string[] | null;
}

export interface PolicyGroup {
  grants: readonly Grant[];
}

export type DenyReason = 'no_grant' | 'server_not_allowed' | 'insufficient_scope' | 'unknown_method' | 'invalid_params';

export type Decision =
  | { allow: true }
  | { allow: false; reason: DenyReason; message: string; scope?: 'mcp:read' | 'mcp:execute' };

type Matcher = (v: string) => boolean;

interface CompiledGrant {
  server: string;
  level: AccessLevel;
  tools: Matcher;
  resources: Matcher;
  prompts: Matcher;
}

function anyOf(patterns: readonly string[]): Matcher {
  if (patterns.includes('*')) return () => true;
  const ms = patterns.map(compileGlob);
  if (ms.length === 1) return ms[0];
  return (v) => {
    for (const m of ms) if (m(v)) return true;
    return false;
  };
}

/**
 * Compiled grants per group object. Group records are replaced (never
 * mutated) when groups change, so object identity is the group's version:
 * globs compile once per version, not per message.
 */
const compiled = new WeakMap<PolicyGroup, CompiledGrant[]>();

export function compileGroup(g: PolicyGroup): CompiledGrant[] {
  let c = compiled.get(g);
  if (!c) {
    c = g.grants.map((gr) => {
      const tools = anyOf(gr.tools);
      return {
        server: gr.server,
        level: gr.access_level,
        tools,
        resources: gr.resources ? anyOf(gr.resources) : tools,
        prompts: gr.prompts ? anyOf(gr.prompts) : tools,
      };
    });
    compiled.set(g, c);
  }
  return c;
}

function grantsFor(subject: PolicySubject, groups: ReadonlyMap<string, PolicyGroup>, server: string): CompiledGrant[] {
  const out: CompiledGrant[] = [];
  for (const name of subject.groups) {
    const g = groups.get(name);
    if (!g) continue;
    for (const gr of compileGroup(g)) if (gr.server === server || gr.server === '*') out.push(gr);
  }
  return out;
}

const IMPLIES: Record<string, readonly string[]> = { 'mcp:execute': ['mcp:read'] };

export function hasMcpScope(scopes: readonly string[] | null, needed: 'mcp:read' | 'mcp:execute'): boolean {
  if (scopes === null) return true;
  for (const s of scopes) if (s === needed || IMPLIES[s]?.includes(needed)) return true;
  return false;
}

const allow: Decision = { allow: true };

function grantAllows(grants: readonly CompiledGrant[], a: McpAction): boolean {
  const lvl = (need: AccessLevel, g: CompiledGrant) => need === 'read' || g.level === 'execute';
  switch (a.kind) {
    case 'session':
    case 'list':
      return grants.length > 0;
    case 'tool':
      return grants.some((g) => g.level === 'execute' && g.tools(a.name));
    case 'resource':
      return grants.some((g) => lvl(a.level, g) && g.resources(a.uri));
    case 'prompt':
      return grants.some((g) => g.level === 'execute' && g.prompts(a.name));
    case 'completion':
      return a.ref.type === 'prompt'
        ? grants.some((g) => g.level === 'execute' && g.prompts((a.ref as { name: string }).name))
        : grants.some((g) => g.level === 'execute' && g.resources((a.ref as { uri: string }).uri));
    case 'task':
      // A task is used with the rights on the tool that created it (read: its status; execute: its result, cancelling it).
      return grants.some((g) => lvl(a.level, g) && (a.tool === null || g.tools(a.tool as string)));
    default:
      return false;
  }
}

/** Decide one action. */
export function evaluate(subject: PolicySubject, groups: ReadonlyMap<string, PolicyGroup>, a: McpAction): Decision {
  if (subject.servers !== null && !subject.servers.includes(a.server))
    return { allow: false, reason: 'server_not_allowed', message: `This token is not valid for MCP server ${a.server}` };
  if (a.kind === 'invalid') return { allow: false, reason: 'invalid_params', message: `Refused ${a.method} on MCP server ${a.server}: ${a.why}` };

  const isAdmin = subject.role === 'admin';
  if (!isAdmin) {
    if (a.kind === 'unknown')
      return { allow: false, reason: 'unknown_method', message: `Method ${a.method} is not allowed on MCP server ${a.server}` };
    if (!grantAllows(grantsFor(subject, groups, a.server), a)) {
      const target = actionTarget(a);
      return {
        allow: false,
        reason: 'no_grant',
        message: target ? `Access to ${target} on MCP server ${a.server} is denied` : `Access to MCP server ${a.server} is denied (${a.method})`,
      };
    }
  }
  const scope = requiredScope(a);
  if (!hasMcpScope(subject.scopes, scope))
    return { allow: false, reason: 'insufficient_scope', scope, message: `The token lacks the ${scope} scope needed for ${a.method}` };
  return allow;
}

/** What a caller may see in list results on one server. */
export interface Visibility {
  all: boolean;
  tool(name: string): boolean;
  resource(uri: string): boolean;
  /** Resource templates are matched by their URI template text. */
  template(uriTemplate: string): boolean;
  prompt(name: string): boolean;
}

const NONE: Visibility = { all: false, tool: () => false, resource: () => false, template: () => false, prompt: () => false };
const ALL: Visibility = { all: true, tool: () => true, resource: () => true, template: () => true, prompt: () => true };

/**
 * Items matched by any grant (read or execute) on the server are visible;
 * admins see everything. The token's server restriction and mcp:read scope
 * apply first.
 */
export function visibility(subject: PolicySubject, groups: ReadonlyMap<string, PolicyGroup>, server: string): Visibility {
  if (subject.servers !== null && !subject.servers.includes(server)) return NONE;
  if (!hasMcpScope(subject.scopes, 'mcp:read')) return NONE;
  if (subject.role === 'admin') return ALL;
  const grants = grantsFor(subject, groups, server);
  if (!grants.length) return NONE;
  const tools = grants.map((g) => g.tools);
  const resources = grants.map((g) => g.resources);
  const prompts = grants.map((g) => g.prompts);
  const some = (ms: Matcher[]) => (v: string) => {
    for (const m of ms) if (m(v)) return true;
    return false;
  };
  return { all: false, tool: some(tools), resource: some(resources), template: some(resources), prompt: some(prompts) };
}
