import { parse } from 'yaml';
import { addDays, metricLabel, distinct, filterAudit, formatDuration, formatFigure, formatTime, isFinalMessageState, keyState, lastDays, msUntil, settingsYaml, stateColor, totals, type AuditEntry } from './format';

describe('what the pages show', () => {
  it('days and the default statistics range', () => {
    expect(addDays('2026-03-01', -1)).toBe('2026-02-28');
    expect(addDays('2024-02-28', 1)).toBe('2024-02-29');
    expect(lastDays(new Date('2026-03-05T23:59:00Z'), 7)).toEqual({ from: '2026-02-27', to: '2026-03-05' });
  });

  it('totals of the daily statistics', () => {
    const day = (date: string, n: number) => ({ date, accepted: n, delivered: n - 1, expired: 1, failed: 0, cancelled: 0 });
    expect(totals([day('2026-01-01', 3), day('2026-01-02', 5)])).toEqual({ accepted: 8, delivered: 6, expired: 2, failed: 0, cancelled: 0 });
    expect(totals([])).toEqual({ accepted: 0, delivered: 0, expired: 0, failed: 0, cancelled: 0 });
  });

  it('stops polling on a final state only', () => {
    expect(['accepted', 'stored', 'sent'].map(isFinalMessageState)).toEqual([false, false, false]);
    expect(['delivered', 'expired', 'failed', 'cancelled'].map(isFinalMessageState)).toEqual([true, true, true, true]);
    expect(stateColor('delivered')).toBe('green');
    expect(stateColor('failed')).toBe('red');
  });

  it('filters the audit log by action, actor and text', () => {
    const entry = (seq: string, action: string, actor: string, entityId: string, details: Record<string, unknown> = {}): AuditEntry => ({
      seq,
      at: '2026-01-01T00:00:00.000Z',
      actor,
      action,
      entityType: action.split('.')[0]!,
      entityId,
      details,
    });
    const entries = [entry('3', 'key.revoke', 'acc_1', 'k1'), entry('2', 'project.create', 'operator', 'p1', { name: 'Shop' }), entry('1', 'project.create', 'acc_1', 'p2', { name: 'Blog' })];
    expect(filterAudit(entries, { action: 'project.create', actor: '', text: '' }).map((e) => e.seq)).toEqual(['2', '1']);
    expect(filterAudit(entries, { action: '', actor: 'acc_1', text: '' }).map((e) => e.seq)).toEqual(['3', '1']);
    expect(filterAudit(entries, { action: '', actor: '', text: 'shop' }).map((e) => e.seq)).toEqual(['2']);
    expect(filterAudit(entries, { action: 'key.revoke', actor: 'operator', text: '' })).toEqual([]);
    expect(distinct(entries.map((e) => e.action))).toEqual(['key.revoke', 'project.create']);
  });

  it('a key’s state', () => {
    const now = new Date('2026-06-01T00:00:00Z');
    expect(keyState({ expiresAt: null, revokedAt: null }, now)).toBe('active');
    expect(keyState({ expiresAt: '2026-07-01T00:00:00Z', revokedAt: null }, now)).toBe('expiring');
    expect(keyState({ expiresAt: '2026-05-01T00:00:00Z', revokedAt: null }, now)).toBe('expired');
    expect(keyState({ expiresAt: null, revokedAt: '2026-05-01T00:00:00Z' }, now)).toBe('revoked');
  });

  it('writes the settings file as YAML that reads back to exactly the API’s fields', () => {
    const settings = {
      push_notification_system: {
        project_id: 'prj_1',
        api_url: 'http://127.0.0.1:8080/push/public/api/v1/',
        scopes: 'openid offline message:update project:read',
        private_key: '-----BEGIN PRIVATE KEY-----\nMIIE: "quoted" #not a comment\n-----END PRIVATE KEY-----\n',
        key_id: 'k: 1',
      },
    };
    const text = settingsYaml(settings);
    expect(text.startsWith('push_notification_system:\n  project_id: "prj_1"\n')).toBe(true);
    expect(parse(text)).toEqual(settings);
  });

  it('session time left and durations', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    expect(msUntil('2026-01-01T00:10:00Z', now)).toBe(600_000);
    expect(msUntil('2025-12-31T00:00:00Z', now)).toBe(0);
    expect(msUntil('garbage', now)).toBe(0);
    expect(formatDuration(20_000)).toBe('less than a minute');
    expect(formatDuration(4 * 60_000)).toBe('4 min');
    expect(formatDuration(125 * 60_000)).toBe('2 h 5 min');
    expect(formatDuration(120 * 60_000)).toBe('2 h');
  });

  it('times and figures', () => {
    expect(formatTime('2026-01-02T03:04:05.678Z')).toBe('2026-01-02 03:04:05 UTC');
    expect(formatTime(null)).toBe('—');
    expect(formatFigure(1234567)).toBe('1,234,567');
    expect(formatFigure(0.012345)).toBe('0.0123');
    expect(metricLabel('deliveriesDelivered')).toBe('Deliveries delivered');
    expect(metricLabel('busConsumerLag')).toBe('Bus consumer lag');
    expect(metricLabel('http_requests_total')).toBe('Http requests total');
  });
});
