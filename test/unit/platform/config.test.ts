import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, configVariables, loadConfig } from '../../../src/config';

describe('loadConfig', () => {
  it('runs on its defaults: local broker, local Postgres, every role, SPEC topic names', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      HTTP_HOST: '127.0.0.1',
      HTTP_PORT: 8080,
      KAFKA_BROKERS: ['127.0.0.1:9092'],
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/sla',
      ROLES: ['api', 'projector', 'scheduler'],
      KAFKA_TOPIC_EVENTS: 'incident.events',
      KAFKA_TOPIC_WARNINGS: 'sla.warnings',
      KAFKA_TOPIC_ESCALATIONS: 'sla.escalations',
      KAFKA_TOPIC_DLQ: 'incident.events.dlq',
      KAFKA_EVENTS_RETENTION_MS: -1,
      REPORT_TIME_ZONE: 'Asia/Shanghai',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('parses lists and numbers from strings', () => {
    const config = loadConfig({
      ROLES: 'projector, scheduler',
      KAFKA_BROKERS: 'a:1,b:2',
      HTTP_PORT: '9000',
    });
    expect(config.ROLES).toEqual(['projector', 'scheduler']);
    expect(config.KAFKA_BROKERS).toEqual(['a:1', 'b:2']);
    expect(config.HTTP_PORT).toBe(9000);
  });

  it('puts KAFKA_TOPIC_PREFIX before the default topic names; a topic variable set wins as it is', () => {
    const config = loadConfig({ KAFKA_TOPIC_PREFIX: 'tenant-b.', KAFKA_TOPIC_DLQ: 'dead.letters' });
    expect(config).toMatchObject({
      KAFKA_TOPIC_EVENTS: 'tenant-b.incident.events',
      KAFKA_TOPIC_WARNINGS: 'tenant-b.sla.warnings',
      KAFKA_TOPIC_ESCALATIONS: 'tenant-b.sla.escalations',
      KAFKA_TOPIC_DLQ: 'dead.letters',
      KAFKA_TOPIC_REPORTS: 'tenant-b.sla.reports',
    });
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ HTTP_PORT: '' }).HTTP_PORT).toBe(8080);
  });

  it.each([
    ['HTTP_PORT', 'eighty', /HTTP_PORT/],
    ['HTTP_PORT', '70000', /HTTP_PORT/],
    ['ROLES', 'api,reporter', /ROLES/],
    ['KAFKA_BROKERS', 'no-port', /KAFKA_BROKERS/],
    ['DATABASE_URL', 'not a url', /DATABASE_URL/],
    ['REPORT_TIME_ZONE', 'Mars/Olympus', /REPORT_TIME_ZONE/],
    ['KAFKA_TOPIC_EVENTS', 'bad topic!', /KAFKA_TOPIC_EVENTS/],
    ['KAFKA_TOPIC_PREFIX', 'a/b', /KAFKA_TOPIC_PREFIX/],
    ['HTTP_REQUEST_TIMEOUT_MS', '10', /HTTP_REQUEST_TIMEOUT_MS/],
    ['HTTP_CONNECTION_TIMEOUT_MS', '15000', /HTTP_CONNECTION_TIMEOUT_MS.*STREAM_HEARTBEAT_MS/],
  ])('rejects %s=%s naming the variable', (name, value, pattern) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(pattern);
  });
});

describe('README configuration table', () => {
  it('documents every variable the service reads', () => {
    const readme = readFileSync(path.join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
    const documented = [...readme.matchAll(/^\| `([A-Z0-9_]+)` +\|/gm)].map((m) => m[1]!);
    expect(configVariables.filter((v) => !documented.includes(v))).toEqual([]);
    expect(documented.filter((v) => !configVariables.includes(v))).toEqual([]);
  });
});
