/**
 * deploy/prometheus: the alert rules are valid (`promtool check rules`), behave as their unit tests
 * say (`promtool test rules`), and use only metrics the service exports: the registry is built the
 * way `startApp` builds it (every role registered, nothing started), so a metric renamed without its
 * rule fails here. promtool comes from Debian's `prometheus` package (.ci/run installs it).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Registry } from 'prom-client';
import YAML from 'yaml';
import { createPolicyStore, loadConfiguredPolicy } from '../../../src/application/policy-store';
import type { AppContext } from '../../../src/application/roles';
import { createContext, registerApiRole } from '../../../src/composition';
import { loadConfig } from '../../../src/config';
import { buildServer } from '../../../src/http/server';
import { createLogger } from '../../../src/infra/logger';
import { PgListener } from '../../../src/infra/pg-listener';
import { createProjectorService } from '../../../src/projector';
import { createSchedulerServices } from '../../../src/scheduler';

jest.setTimeout(60_000);

const DIR = path.resolve(__dirname, '../../../deploy/prometheus');
/** Series Prometheus makes itself, not the service. */
const PROMETHEUS_OWN = new Set(['up']);

async function promtool(...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)('promtool', args, { cwd: DIR });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new Error('promtool not found: apt-get install -y prometheus');
    return { code: Number(e.code), output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

interface Rule {
  alert: string;
  expr: string;
}
function rules(): Rule[] {
  const doc = YAML.parse(readFileSync(path.join(DIR, 'alerts.yml'), 'utf8')) as {
    groups: { rules: Rule[] }[];
  };
  return doc.groups.flatMap((g) => g.rules);
}

describe('promtool', () => {
  it('check config: the Prometheus configuration of docker-compose.yml loads the rules', async () => {
    const { code, output } = await promtool('check', 'config', 'prometheus.yml');
    expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining('SUCCESS') });
  });

  it('check rules: the rule file is valid', async () => {
    const { code, output } = await promtool('check', 'rules', 'alerts.yml');
    expect({ code, output }).toEqual({
      code: 0,
      output: expect.stringContaining(`SUCCESS: ${rules().length} rules found`),
    });
  });

  it('test rules: every alert fires on its situation and not on a healthy one', async () => {
    const { code, output } = await promtool('test', 'rules', 'alerts.test.yml');
    expect({ code, output }).toEqual({ code: 0, output: expect.stringContaining('SUCCESS') });
  });

  it('every alert has a unit test', () => {
    const tests = YAML.parse(readFileSync(path.join(DIR, 'alerts.test.yml'), 'utf8')) as {
      tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const fired = new Set(
      tests.tests.flatMap((t) =>
        t.alert_rule_test.filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
      ),
    );
    expect(
      rules()
        .map((r) => r.alert)
        .filter((a) => !fired.has(a)),
    ).toEqual([]);
  });
});

describe('the metrics the rules use', () => {
  let context: AppContext;
  let exported: Set<string>;
  beforeAll(async () => {
    // As startApp does, without starting anything: every role registers its metrics.
    context = createContext(loadConfig({}), createLogger('silent'));
    const http = buildServer({
      logger: context.log,
      metrics: context.metrics,
      readiness: [
        { name: 'postgres', check: async () => undefined },
        { name: 'kafka', check: async () => undefined },
      ],
    });
    await registerApiRole(http, context);
    const policies = createPolicyStore(
      context.pool,
      await loadConfiguredPolicy(context.config.POLICY_FILE),
      context.log,
    );
    await createProjectorService(context, policies);
    createSchedulerServices({ ...context, listener: new PgListener(context.pool, context.log) });
    exported = exportedNames(context.metrics);
    await http.close();
  });
  afterAll(async () => {
    await context.publisher.close().catch(() => undefined);
    await context.pool.end();
  });

  it('are all exported by the service', () => {
    const used = new Set(
      rules().flatMap((r) => r.expr.match(/\b[a-z_][a-z0-9_]*(?=[{[\s)]|$)/g) ?? []),
    );
    const metrics = [...used].filter((name) => name.startsWith('sla_') || PROMETHEUS_OWN.has(name));
    expect(metrics.length).toBeGreaterThanOrEqual(8);
    expect(metrics.filter((m) => !exported.has(m) && !PROMETHEUS_OWN.has(m))).toEqual([]);
  });

  it('include those of the Grafana dashboard Prometheus panels', () => {
    const dashboard = JSON.parse(
      readFileSync(path.resolve(DIR, '../grafana/dashboards/sla-timer.json'), 'utf8'),
    ) as { panels: { targets: { expr?: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr ?? []));
    expect(exprs.length).toBeGreaterThanOrEqual(3);
    const used = new Set(exprs.flatMap((e) => e.match(/\bsla_[a-z0-9_]+/g) ?? []));
    expect(used.size).toBeGreaterThanOrEqual(3);
    expect([...used].filter((m) => !exported.has(m))).toEqual([]);
  });

  it('cover the issue list: outbox, lateness, projector lag, DLQ, clock skew, readiness', () => {
    const exprs = rules()
      .map((r) => r.expr)
      .join('\n');
    for (const name of [
      'sla_outbox_backlog',
      'sla_outbox_oldest_unsent_age_seconds',
      'sla_timer_lateness_seconds_bucket',
      'sla_projector_consumer_lag',
      'sla_projector_dlq_records_total',
      'sla_scheduler_clock_skew_seconds',
      'sla_dependency_up',
    ]) {
      expect([name, exprs.includes(name)]).toEqual([name, true]);
      expect([name, exported.has(name)]).toEqual([name, true]);
    }
  });
});

/** Series names as scraped: histograms add _bucket, _sum and _count; summaries _sum and _count. */
function exportedNames(registry: Registry): Set<string> {
  const names = new Set<string>();
  for (const metric of registry.getMetricsAsArray()) {
    const { name, type } = metric as unknown as { name: string; type: string };
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
  }
  return names;
}
