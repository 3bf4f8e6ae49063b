/**
 * The deployment files cannot run here (no container engine, no cluster), so
 * this test is their linter: Kubernetes manifests are schema-validated with
 * strict field names, checked against each other (selectors, ports, Secret
 * keys, grace period vs. shutdown_timeout), and the ConfigMap's
 * portcullis.yaml is loaded with the real config loader. The Dockerfile is
 * linted and checked for the properties docs/deployment.md promises.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { configWarnings, loadConfig, type Config } from '../src/config/index.js';
import { parseDuration } from '../src/lib/duration.js';
import { ROOT } from './helpers/gateway-process.js';
import { unknownFields, validateSchema } from './helpers/k8s-lint.js';

const K8S_DIR = join(ROOT, 'deploy/kubernetes');

interface Manifest {
  file: string;
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
  [k: string]: any;
}

function loadManifests(): Manifest[] {
  const out: Manifest[] = [];
  for (const file of readdirSync(K8S_DIR).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(K8S_DIR, file), 'utf8'))) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const obj = doc.toJS();
      if (obj) out.push({ ...obj, file });
    }
  }
  return out;
}

const manifests = loadManifests();
const resources = manifests.filter((m) => m.kind !== 'Kustomization');
const one = (kind: string) => {
  const found = resources.filter((m) => m.kind === kind);
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0];
};
const withoutFile = ({ file: _f, ...rest }: Manifest) => rest as Manifest;

/** Env var names a YAML text references as ${VAR} or ${VAR:-default}. */
const envRefs = (text: string) => [...new Set([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}/g)].map((m) => m[1]))];

function loadConfigMapConfig(env: Record<string, string>): Config {
  const text = one('ConfigMap').data!['portcullis.yaml'];
  const dir = mkdtempSync(join(tmpdir(), 'pcl-deploy-'));
  try {
    const file = join(dir, 'portcullis.yaml');
    writeFileSync(file, text);
    return loadConfig({ file, env });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const DUMMY_ENV: Record<string, string> = {
  PUBLIC_URL: 'https://portcullis.example.com',
  DATABASE_URL: 'postgres://portcullis:secret@postgres.example:5432/portcullis',
  REDIS_URL: 'redis://:secret@redis.example:6379/0',
  ENCRYPTION_KEY: 'a'.repeat(64),
};

describe('deploy/kubernetes: every manifest is valid Kubernetes', () => {
  it('there are manifests, each with apiVersion, kind and metadata.name', () => {
    expect(resources.map((m) => m.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service']);
    for (const m of manifests) {
      expect(typeof m.apiVersion, m.file).toBe('string');
      expect(typeof m.kind, m.file).toBe('string');
    }
    for (const m of resources) expect(m.metadata?.name, m.file).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });

  for (const m of resources) {
    it(`${m.file} (${m.kind}) passes the Kubernetes schema with strict field names`, () => {
      expect(validateSchema(withoutFile(m))).toEqual([]);
      expect(unknownFields(withoutFile(m))).toEqual([]);
    });
  }

  it('the strict check catches a misspelt field (the linter itself works)', () => {
    const d = structuredClone(withoutFile(one('Deployment')));
    d.spec.template.spec.containers[0].livenesProbe = d.spec.template.spec.containers[0].livenessProbe;
    expect(unknownFields(d)).toEqual(['spec.template.spec.containers[0].livenesProbe']);
    d.spec.template.spec.containers[0].ports[0].containerPort = 'eighty';
    expect(validateSchema(d).join()).toMatch(/containerPort must be integer/);
  });

  it('kustomization.yaml lists every manifest in the folder', () => {
    const k = manifests.find((m) => m.kind === 'Kustomization')!;
    expect(k.apiVersion).toBe('kustomize.config.k8s.io/v1beta1');
    expect([...k.resources].sort()).toEqual([...new Set(resources.map((m) => m.file))].sort());
  });
});

describe('deploy/kubernetes: the objects fit together', () => {
  const dep = one('Deployment');
  const pod = dep.spec.template.spec;
  const container = pod.containers[0];
  const podLabels: Record<string, string> = dep.spec.template.metadata.labels;
  const matches = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => podLabels[k] === v);

  it('Deployment: selector matches the pod labels; several replicas; rolling update never drops below the replica count', () => {
    expect(matches(dep.spec.selector.matchLabels)).toBe(true);
    expect(dep.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(dep.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
  });

  it('Deployment: liveness on /healthz, readiness on /readyz, both on the container port', () => {
    expect(container.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
    expect(container.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 'http' });
    expect(container.startupProbe.httpGet.path).toBe('/healthz');
    expect(container.ports).toContainEqual(expect.objectContaining({ name: 'http', containerPort: 8080 }));
  });

  it('Deployment: non-root, read-only root filesystem, no privilege escalation, all capabilities dropped', () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.securityContext.runAsUser).toBe(1000);
    expect(pod.securityContext.seccompProfile.type).toBe('RuntimeDefault');
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    expect(pod.automountServiceAccountToken).toBe(false);
    // a read-only root needs a writable /tmp for stdio servers and Node
    const tmp = container.volumeMounts.find((v: { mountPath: string }) => v.mountPath === '/tmp');
    expect(pod.volumes.find((v: { name: string }) => v.name === tmp.name).emptyDir).toBeDefined();
  });

  it('Deployment: resource requests and a memory limit are set', () => {
    expect(container.resources.requests.cpu).toBeDefined();
    expect(container.resources.requests.memory).toBeDefined();
    expect(container.resources.limits.memory).toBeDefined();
  });

  it('Deployment: the grace period covers the preStop pause plus server.shutdown_timeout with margin', () => {
    const config = loadConfigMapConfig(DUMMY_ENV);
    const preStop = container.lifecycle.preStop.exec.command;
    expect(preStop[0]).toBe('sleep');
    const preStopMs = Number(preStop[1]) * 1000;
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(preStopMs + config.server.shutdown_timeout);
  });

  it('Deployment: the config file is mounted where PORTCULLIS_CONFIG points, from the ConfigMap', () => {
    const env = Object.fromEntries(container.env.map((e: { name: string; value?: string }) => [e.name, e.value]));
    const mount = container.volumeMounts.find((v: { name: string }) => pod.volumes.find((x: any) => x.name === v.name)?.configMap);
    expect(mount.readOnly).toBe(true);
    expect(env.PORTCULLIS_CONFIG).toBe(`${mount.mountPath}/portcullis.yaml`);
    const vol = pod.volumes.find((x: any) => x.name === mount.name);
    expect(vol.configMap.name).toBe(one('ConfigMap').metadata.name);
  });

  it('Deployment: every ${VAR} the config references is set; secrets come from a Secret, never inline', () => {
    const text = one('ConfigMap').data!['portcullis.yaml'];
    const refs = envRefs(text);
    expect(refs.sort()).toEqual(['DATABASE_URL', 'ENCRYPTION_KEY', 'PUBLIC_URL', 'REDIS_URL']);
    const byName = new Map<string, any>(container.env.map((e: { name: string }) => [e.name, e]));
    for (const r of refs) expect(byName.has(r), `container env ${r}`).toBe(true);
    for (const secret of ['DATABASE_URL', 'REDIS_URL', 'ENCRYPTION_KEY']) {
      const e = byName.get(secret);
      expect(e.value, `${secret} must not be inline`).toBeUndefined();
      expect(e.valueFrom.secretKeyRef).toMatchObject({ name: 'portcullis' });
    }
  });

  it('Service: selects the pods and targets the named container port', () => {
    const svc = one('Service');
    expect(matches(svc.spec.selector)).toBe(true);
    for (const p of svc.spec.ports) expect(container.ports.map((c: { name: string }) => c.name)).toContain(p.targetPort);
  });

  it('PodDisruptionBudget: selects the pods and keeps at least one running', () => {
    const pdb = one('PodDisruptionBudget');
    expect(matches(pdb.spec.selector.matchLabels)).toBe(true);
    expect(pdb.spec.minAvailable).toBeGreaterThanOrEqual(1);
    expect(pdb.spec.minAvailable).toBeLessThan(dep.spec.replicas);
  });

  it('HorizontalPodAutoscaler: scales this Deployment and never below two replicas', () => {
    const hpa = one('HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: dep.metadata.name });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
  });
});

describe("deploy/kubernetes: the ConfigMap's portcullis.yaml passes the real config schema", () => {
  it('loads with the env vars it references, on PostgreSQL + Redis, listening on the container port, with no unsafe-config warning', () => {
    const config = loadConfigMapConfig(DUMMY_ENV);
    expect(config.storage.url).toBe(DUMMY_ENV.DATABASE_URL);
    expect(config.redis?.url).toBe(DUMMY_ENV.REDIS_URL);
    expect(config.server.host).toBe('0.0.0.0');
    expect(config.server.port).toBe(8080);
    expect(config.server.public_url).toBe(DUMMY_ENV.PUBLIC_URL);
    expect(configWarnings(config)).toEqual([]);
    expect(config.server.shutdown_timeout).toBe(parseDuration('20s'));
  });

  it('fails loudly, naming the variable, when the Secret is missing a key', () => {
    const { DATABASE_URL: _omit, ...env } = DUMMY_ENV;
    expect(() => loadConfigMapConfig(env)).toThrow(/storage\.url: environment variable DATABASE_URL is not set/);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  // Instructions with line continuations joined, comments dropped.
  const instructions = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [kw, ...rest] = l.split(/\s+/);
      return { kw: kw.toUpperCase(), args: rest.join(' ') };
    });
  const froms = instructions.map((i, idx) => ({ ...i, idx })).filter((i) => i.kw === 'FROM');
  const runtime = instructions.slice(froms[froms.length - 1].idx);

  it('passes the Dockerfile linter with no diagnostics', () => {
    expect(lintDockerfile(text).map((d) => `${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it('is multi-stage: a build stage with npm ci and a compiler toolchain, a slim Node 20 runtime', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const build = instructions.slice(froms[0].idx, froms[froms.length - 1].idx);
    expect(build.some((i) => i.kw === 'RUN' && /\bnpm ci\b/.test(i.args))).toBe(true);
    expect(build.some((i) => i.kw === 'RUN' && /\bg\+\+/.test(i.args) && /\bmake\b/.test(i.args) && /\bpython3\b/.test(i.args))).toBe(true);
    expect(build.some((i) => i.kw === 'RUN' && /npm prune --omit=dev/.test(i.args))).toBe(true);
    expect(froms[froms.length - 1].args).toMatch(/node:\$\{NODE_VERSION\}-bookworm-slim AS runtime/);
    expect(text).toMatch(/ARG NODE_VERSION=20\b/);
  });

  it('the runtime stage carries only dist/, bin/ and production node_modules, and runs as a non-root user', () => {
    const copies = runtime.filter((i) => i.kw === 'COPY').map((i) => i.args);
    expect(copies.some((c) => /(^|\s)(\.\/)?src(\/|\s|$)/.test(c))).toBe(false);
    expect(copies.some((c) => /--from=build .*\/dist/.test(c))).toBe(true);
    const users = runtime.filter((i) => i.kw === 'USER').map((i) => i.args);
    expect(users.length).toBeGreaterThan(0);
    expect(users[users.length - 1]).not.toMatch(/^(root|0)(:|$)/);
    // the Kubernetes Deployment's runAsUser is the image user's uid (node = 1000)
    expect(['node', '1000']).toContain(users[users.length - 1]);
  });

  it('exposes 8080, listens on all interfaces, checks /healthz, and starts `portcullis serve` under an init', () => {
    expect(runtime.find((i) => i.kw === 'EXPOSE')?.args).toBe('8080');
    expect(runtime.find((i) => i.kw === 'ENV')?.args).toMatch(/PORTCULLIS_HOST=0\.0\.0\.0/);
    expect(runtime.find((i) => i.kw === 'HEALTHCHECK')?.args).toMatch(/\/healthz/);
    expect(runtime.find((i) => i.kw === 'ENTRYPOINT')?.args).toMatch(/tini.*bin\/portcullis\.js/);
    expect(runtime.find((i) => i.kw === 'CMD')?.args).toBe('["serve"]');
  });

  it('runs Node with single-threaded GC, a flag this Node accepts, and the benchmark starts its gateways the same way', async () => {
    const entry = JSON.parse(runtime.find((i) => i.kw === 'ENTRYPOINT')?.args ?? '[]') as string[];
    const flags = entry.slice(entry.indexOf('node') + 1, entry.findIndex((a) => a.endsWith('bin/portcullis.js')));
    expect(flags).toEqual(['--single-threaded-gc']);
    // A misspelt V8 flag makes node refuse to start.
    const run = spawnSync(process.execPath, [...flags, '-e', 'process.stdout.write("ok")'], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout).toBe('ok');
    const bench = (await import(join(ROOT, 'bench/lib.mjs'))) as { GATEWAY_NODE_ARGS: string[] };
    expect(bench.GATEWAY_NODE_ARGS).toEqual(flags);
  });

  it('.dockerignore keeps local state, secrets and build output out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split(/\r?\n/).map((l) => l.trim());
    for (const p of ['.git', 'node_modules', 'dist', 'data', '.env', '*.pem', '*.key']) expect(ignored).toContain(p);
    // and nothing the build needs is excluded
    for (const needed of ['src', 'bin', 'package.json', 'package-lock.json', 'tsconfig.json']) expect(ignored).not.toContain(needed);
  });
});
