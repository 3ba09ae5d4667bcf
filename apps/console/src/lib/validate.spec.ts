import { buildSendBody, checkDayRange, checkEmail, checkName, checkNewPassword, checkTarget, checkTtl, codePoints, isDay, parseData, parseExpiry, ttlSeconds, type SendForm } from './validate';

const form = (patch: Partial<SendForm> = {}): SendForm => ({ type: 'device', target: 'reg_1', title: 'Hi', message: 'there', data: '', ttl: '1h', ...patch });

describe('form checks before sending', () => {
  it('e-mail, password, names', () => {
    expect(checkEmail('dev@example.com')).toBeNull();
    expect(checkEmail(' dev@example.com ')).toBeNull();
    expect(checkEmail('')).toMatch(/Enter/);
    expect(checkEmail('dev@')).toMatch(/valid/);
    expect(checkEmail(`${'a'.repeat(250)}@b.co`)).toMatch(/valid/);
    expect(checkNewPassword('short')).toMatch(/12/);
    expect(checkNewPassword('twelve chars')).toBeNull();
    expect(checkNewPassword('x'.repeat(257))).toMatch(/256/);
    expect(checkName('  ')).toMatch(/Enter/);
    expect(checkName('Shop')).toBeNull();
    expect(checkName('x'.repeat(257))).toMatch(/256/);
  });

  it('TTLs as the push API reads them', () => {
    expect(ttlSeconds('5h30m')).toBe(19_800);
    expect(ttlSeconds('90s')).toBe(90);
    expect(ttlSeconds('0s')).toBe(0);
    expect(ttlSeconds('672h')).toBe(28 * 86_400);
    expect(ttlSeconds('673h')).toBeNull();
    for (const bad of ['1d', '5 hours', '10', 'h', '1m1h', '']) expect(ttlSeconds(bad)).toBeNull();
    expect(checkTtl('')).toBeNull();
    expect(checkTtl('1d')).toMatch(/duration/);
  });

  it('targets', () => {
    expect(checkTarget('app_0123abc')).toBeNull();
    expect(checkTarget('sports.football~1%2')).toBeNull();
    expect(checkTarget('')).toMatch(/Enter/);
    expect(checkTarget('a b')).toMatch(/letters/);
    expect(checkTarget('a/b')).toMatch(/letters/);
    expect(checkTarget('x'.repeat(257))).toMatch(/256/);
  });

  it('the data JSON editor: an object within 4,096 bytes and 32 levels', () => {
    expect(parseData('')).toEqual({ ok: true, value: undefined });
    expect(parseData('{"order": 42}')).toEqual({ ok: true, value: { order: 42 } });
    expect(parseData('{"order": ')).toMatchObject({ ok: false, error: expect.stringMatching(/Not valid JSON/) });
    expect(parseData('[1,2]')).toMatchObject({ ok: false, error: expect.stringMatching(/object/) });
    expect(parseData('"text"')).toMatchObject({ ok: false });
    expect(parseData('null')).toMatchObject({ ok: false });
    expect(parseData(JSON.stringify({ s: 'x'.repeat(4100) }))).toMatchObject({ ok: false, error: expect.stringMatching(/4096 bytes/) });
    expect(parseData(JSON.stringify({ s: 'é'.repeat(2050) }))).toMatchObject({ ok: false });
    let deep: unknown = 1;
    for (let i = 0; i < 33; i++) deep = { d: deep };
    expect(parseData(JSON.stringify(deep))).toMatchObject({ ok: false, error: expect.stringMatching(/32 levels/) });
    let ok: unknown = 1;
    for (let i = 0; i < 32; i++) ok = { d: ok };
    expect(parseData(JSON.stringify(ok))).toMatchObject({ ok: true });
  });

  it('builds the push API’s send body from the test-send form', () => {
    expect(buildSendBody(form({ data: '{"k":[1,2]}' }))).toEqual({
      ok: true,
      body: { target: 'reg_1', type: 'device', ttl: '1h', notification: { title: 'Hi', message: 'there', data: { k: [1, 2] } } },
    });
    expect(buildSendBody(form({ type: 'topic', target: ' news ', title: '', message: '', data: '{"sync":true}', ttl: '' }))).toEqual({
      ok: true,
      body: { target: 'news', type: 'topic', notification: { data: { sync: true } } },
    });
  });

  it('reports every bad field at once, and an empty notification', () => {
    const result = buildSendBody(form({ target: 'a b', ttl: '2d', title: 'x'.repeat(513), message: 'y'.repeat(2049), data: '[' }));
    expect(result.ok).toBe(false);
    expect(Object.keys(result.ok ? {} : result.errors).sort()).toEqual(['data', 'message', 'target', 'title', 'ttl']);
    expect(buildSendBody(form({ title: '', message: '' }))).toEqual({ ok: false, errors: { title: 'A notification needs a title, a message or data.' } });
    // 512 emoji are 512 code points (1,024 UTF-16 units): allowed, as the API counts.
    expect(codePoints('😀'.repeat(512))).toBe(512);
    expect(buildSendBody(form({ title: '😀'.repeat(512) })).ok).toBe(true);
  });

  it('date ranges for the statistics', () => {
    expect(isDay('2026-02-28')).toBe(true);
    expect(isDay('2026-02-30')).toBe(false);
    expect(isDay('2026-2-1')).toBe(false);
    expect(checkDayRange('2026-01-01', '2026-01-31')).toEqual({});
    expect(checkDayRange('2026-02-01', '2026-01-31')).toEqual({ from: 'The first day must not be after the last.' });
    expect(checkDayRange('2025-01-01', '2026-01-31')).toEqual({ from: 'At most 366 days.' });
    expect(checkDayRange('x', '2026-13-01')).toEqual({ from: 'A day YYYY-MM-DD.', to: 'A day YYYY-MM-DD.' });
  });

  it('key expiry from a datetime-local field', () => {
    const now = new Date('2026-06-01T12:00:00Z');
    expect(parseExpiry('', now)).toMatchObject({ ok: false });
    expect(parseExpiry('garbage', now)).toMatchObject({ ok: false, error: 'Not a date and time.' });
    expect(parseExpiry('2020-01-01T00:00', now)).toMatchObject({ ok: false, error: 'Must be in the future.' });
    const later = parseExpiry('2030-01-01T00:00', now);
    expect(later.ok && Date.parse(later.value)).toBe(Date.parse('2030-01-01T00:00'));
  });
});
