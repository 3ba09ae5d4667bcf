import { DATA_MAX_DEPTH, DomainError, ErrorCode, Limits, SendMessageRequest } from '@borealis/contracts';
import { isPlainSend, parseMulticastRequest, parseSendRequest } from './send-request';

const NOW = Date.parse('2027-01-31T09:00:00Z');
const parse = (body: unknown) => parseSendRequest(body, NOW);

const valid = () => ({ target: 'reg-1', type: 'device', notification: { title: 'Hello', message: 'World' } });

function fieldsOf(body: unknown): Record<string, string> {
  try {
    parse(body);
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe(ErrorCode.InvalidArgument);
    return (err as DomainError).details.fields ?? {};
  }
  throw new Error('expected the body to be refused');
}

describe('parseSendRequest', () => {
  it('accepts the minimal Aurora body with defaults', () => {
    expect(parse(valid())).toEqual({
      target: { type: 'device', value: 'reg-1' },
      ttlSeconds: Limits.ttlDefaultSeconds,
      notification: { title: 'Hello', message: 'World', data: null },
      priority: 'normal',
      collapseKey: null,
    });
  });

  it('reads ttl, priority, collapse_key and nested data', () => {
    const data = { a: { b: [1, 2, { c: 'ü' }] }, n: null };
    const request = parse({ ...valid(), ttl: '5h30m', priority: 'high', collapse_key: 'news', notification: { title: 't', message: 'm', data } });
    expect(request.ttlSeconds).toBe(5 * 3600 + 30 * 60);
    expect(request.priority).toBe('high');
    expect(request.collapseKey).toBe('news');
    expect(JSON.parse(request.notification.data!)).toEqual(data);
  });

  it.each([null, [], 'text', 42])('refuses a body that is not an object (%p)', (body) => {
    expect(fieldsOf(body)).toEqual({ body: 'must be a JSON object' });
  });

  it('refuses unknown top-level and notification fields, naming them', () => {
    const fields = fieldsOf({ ...valid(), colour: 'red', notification: { title: 't', message: 'm', icon: 'x' } });
    expect(fields).toEqual({ colour: 'is not a known field', 'notification.icon': 'is not a known field' });
  });

  it('requires target, type and notification and reports them together', () => {
    expect(fieldsOf({})).toEqual({ target: 'is required', type: 'is required', notification: 'is required' });
  });

  it('checks types', () => {
    const fields = fieldsOf({ target: 7, type: 'device', notification: { title: 1, message: null }, ttl: 60, priority: 'urgent', collapse_key: 3 });
    expect(Object.keys(fields).sort()).toEqual(['collapse_key', 'notification.message', 'notification.title', 'priority', 'target', 'ttl']);
    expect(fields['target']).toBe('must be a string');
    expect(fields['priority']).toBe('must be "high" or "normal"');
  });

  it('refuses an empty target and a target over the limit', () => {
    expect(fieldsOf({ ...valid(), target: '' })).toEqual({ target: 'must not be empty' });
    expect(fieldsOf({ ...valid(), target: 'r'.repeat(Limits.targetMaxChars + 1) })['target']).toMatch(/limit is 256/);
  });

  it('accepts device, application and topic targets, and checks topic names', () => {
    expect(parse({ ...valid(), type: 'application', target: 'app_1' }).target).toEqual({ type: 'application', value: 'app_1' });
    expect(parse({ ...valid(), type: 'topic', target: 'news-1.eu_%7E' }).target).toEqual({ type: 'topic', value: 'news-1.eu_%7E' });
    expect(fieldsOf({ ...valid(), type: 'topic', target: 'sports/football' })).toEqual({ target: 'must be a topic name: 1 to 256 letters, digits or -_.~%' });
    expect(fieldsOf({ ...valid(), type: 'broadcast' })).toEqual({ type: 'must be "device", "application" or "topic"' });
    expect(fieldsOf({ ...valid(), type: ['device'] })).toEqual({ type: 'must be "device", "application" or "topic"' });
  });

  it.each([
    ['whitespace only', ' '],
    ['tabs and newlines', '\t\n'],
    ['an id with a space in it', 'reg 1'],
    ['an id with surrounding spaces', ' reg-1 '],
    ['a control character', 'reg-1\u0000'],
    ['a path', 'devices/reg-1'],
    ['non-ASCII letters', 'régistration'],
  ])('refuses a device or application target that cannot be an id: %s', (_name, target) => {
    for (const type of ['device', 'application']) {
      expect(fieldsOf({ ...valid(), type, target })).toEqual({ target: `must be ${type === 'device' ? 'a registrationId' : 'an applicationId'}: 1 to 256 letters, digits or -_.~%` });
    }
    expect(fieldsOf({ ...valid(), type: 'topic', target })).toEqual({ target: 'must be a topic name: 1 to 256 letters, digits or -_.~%' });
  });

  it('accepts every id Borealis issues as a target', () => {
    for (const target of ['reg_3q2-7wEvQ_uZtSpcH2Ngxw', 'app_AAAAAAAAAAAAAAAAAAAAAA', 'r'.repeat(Limits.targetMaxChars)]) {
      expect(parse({ ...valid(), target }).target.value).toBe(target);
      expect(parse({ ...valid(), type: 'application', target }).target.value).toBe(target);
    }
  });

  it(`refuses data nested deeper than ${DATA_MAX_DEPTH} levels without exhausting the stack`, () => {
    const nest = (levels: number) => {
      let data: Record<string, unknown> = {};
      for (let i = 1; i < levels; i++) data = { d: data };
      return data;
    };
    expect(parse({ ...valid(), notification: { title: 't', message: 'm', data: nest(DATA_MAX_DEPTH) } }).notification.data).toContain('"d"');
    expect(fieldsOf({ ...valid(), notification: { title: 't', message: 'm', data: nest(DATA_MAX_DEPTH + 1) } })).toEqual({ 'notification.data': `nests deeper than ${DATA_MAX_DEPTH} levels` });
    expect(fieldsOf({ ...valid(), notification: { title: 't', message: 'm', data: nest(100_000) } })).toEqual({ 'notification.data': `nests deeper than ${DATA_MAX_DEPTH} levels` });
  });

  it('counts title and message in code points, not UTF-16 units', () => {
    const emoji = '😀'; // two UTF-16 units, one code point
    const title = emoji.repeat(Limits.titleMaxChars);
    expect(title.length).toBe(2 * Limits.titleMaxChars);
    expect(parse({ ...valid(), notification: { title, message: emoji.repeat(Limits.messageMaxChars) } }).notification.title).toBe(title);
    const fields = fieldsOf({ ...valid(), notification: { title: title + 'x', message: 'm'.repeat(Limits.messageMaxChars + 1) } });
    expect(fields).toEqual({
      'notification.title': 'is 513 characters; the limit is 512',
      'notification.message': 'is 2049 characters; the limit is 2048',
    });
  });

  it('limits data by the UTF-8 bytes of its JSON text', () => {
    const overhead = JSON.stringify({ k: '' }).length;
    const fits = { k: 'a'.repeat(Limits.dataMaxBytes - overhead) };
    expect(parse({ ...valid(), notification: { title: 't', message: 'm', data: fits } }).notification.data).toBe(JSON.stringify(fits));
    // 'é' is one UTF-16 unit but two UTF-8 bytes: the same length in characters is over the limit.
    const tooBig = { k: 'é'.repeat(Limits.dataMaxBytes - overhead) };
    expect(fieldsOf({ ...valid(), notification: { title: 't', message: 'm', data: tooBig } })['notification.data']).toMatch(/bytes as JSON; the limit is 4096/);
  });

  it.each([[[1, 2]], [null], ['{"a":1}'], [5]])('refuses data that is not a JSON object (%p)', (data) => {
    expect(fieldsOf({ ...valid(), notification: { title: 't', message: 'm', data } })).toEqual({ 'notification.data': 'must be a JSON object' });
  });

  it('takes title, message and data as optional each (Aurora): any one makes a push, data alone a silent one', () => {
    const only = (notification: Record<string, unknown>) => parse({ ...valid(), notification }).notification;
    expect(only({ title: 'Just a title' })).toEqual({ title: 'Just a title', message: '', data: null });
    expect(only({ message: 'Just a message' })).toEqual({ title: '', message: 'Just a message', data: null });
    expect(only({ data: { sync: true } })).toEqual({ title: '', message: '', data: '{"sync":true}' });
    expect(only({ title: '', message: '', data: {} })).toEqual({ title: '', message: '', data: '{}' });
  });

  it.each([[{}], [{ title: '' }], [{ title: '', message: '' }]])('refuses a notification with nothing to deliver (%p), naming the rule', (notification) => {
    expect(fieldsOf({ ...valid(), notification })).toEqual({ notification: 'needs at least one of title, message (not empty) or data' });
  });

  it('refuses a malformed or too long ttl', () => {
    expect(Object.keys(fieldsOf({ ...valid(), ttl: '5 hours' }))).toEqual(['ttl']);
    expect(Object.keys(fieldsOf({ ...valid(), ttl: `${Limits.ttlMaxSeconds + 1}s` }))).toEqual(['ttl']);
    expect(parse({ ...valid(), ttl: '90s' }).ttlSeconds).toBe(90);
  });

  it('names every field in the message', () => {
    expect(() => parse({ ...valid(), target: '', priority: 'x' })).toThrow('invalid message: target must not be empty; priority must be "high" or "normal"');
  });

  describe('send_at', () => {
    it('takes an RFC 3339 time ahead of now and within the TTL, with any offset', () => {
      expect(parse({ ...valid(), ttl: '1h', send_at: '2027-01-31T09:30:00Z' }).sendAtMs).toBe(NOW + 30 * 60_000);
      expect(parse({ ...valid(), ttl: '1h', send_at: '2027-01-31T12:10:00.250+03:00' }).sendAtMs).toBe(NOW + 10 * 60_000 + 250);
    });

    it('sends at once (no schedule) for a time already past', () => {
      expect(parse({ ...valid(), send_at: '2027-01-31T08:59:59Z' })).not.toHaveProperty('sendAtMs');
      expect(parse({ ...valid(), send_at: '2027-01-31T09:00:00Z' })).not.toHaveProperty('sendAtMs');
    });

    it('refuses a time at or beyond the TTL, and anything that is not an RFC 3339 date-time with a zone', () => {
      expect(fieldsOf({ ...valid(), ttl: '1h', send_at: '2027-01-31T10:00:00Z' })).toEqual({ send_at: 'must be less than the TTL (3600 s) ahead: the message would expire before it may go out' });
      for (const send_at of ['2027-01-31T09:30:00', '2027-01-31 09:30:00Z', 'tomorrow', 1801386000, '2027-02-30T09:30:00Z', '']) {
        expect({ send_at, fields: Object.keys(fieldsOf({ ...valid(), send_at })) }).toEqual({ send_at, fields: ['send_at'] });
      }
    });

    it('reports a bad ttl alone, not a send_at judged against it', () => {
      expect(Object.keys(fieldsOf({ ...valid(), ttl: 'soon', send_at: '2027-01-31T09:30:00Z' }))).toEqual(['ttl']);
    });
  });
});

describe('isPlainSend (the send body judged without the schema)', () => {
  it('takes the usual bodies, so that they skip the schema', () => {
    expect(isPlainSend(valid())).toBe(true);
    expect(isPlainSend({ target: 'news', type: 'topic', ttl: '5h30m', priority: 'high', collapse_key: 'k', notification: { data: { a: [1, { b: null }] } } })).toBe(true);
    expect(isPlainSend(JSON.parse(JSON.stringify({ ...valid(), notification: { title: 'x'.repeat(Limits.titleMaxChars), message: '' } })))).toBe(true);
  });

  it('never takes a body the schema refuses, over many near-valid bodies', () => {
    let seed = 7;
    const random = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const oneOf = <T>(values: readonly T[]): T => values[random(values.length)]!;
    const strings = (max: number) => ['', 'a', ' ', 'é', '😀'.repeat(max / 2 + 1), 'x'.repeat(max), 'x'.repeat(max + 1), '😀'.repeat(max / 2), 'reg_a-b.c~d%2F', 'a/b', 'a b'];
    const values = {
      target: [...strings(Limits.targetMaxChars), 'x'.repeat(Limits.targetMaxChars - 1) + 'é', 1, null, ['a'], undefined],
      type: ['device', 'application', 'topic', 'Device', '', null, 1, undefined],
      ttl: ['1h', '5h30m', '90s', '0s', '999999h', '1h1h', 'h', '', ' 1h', `${Limits.ttlMaxSeconds}s`, `${Limits.ttlMaxSeconds + 1}s`, 60, null, undefined],
      priority: ['high', 'normal', 'low', '', null, undefined],
      collapse_key: [...strings(Limits.collapseKeyMaxChars), 7, null, undefined],
      send_at: ['2027-01-31T10:00:00Z', 'tomorrow', null, undefined],
      extra: [1, 'x', undefined],
    } as const;
    const notifications = () => {
      const n: Record<string, unknown> = {};
      if (random(3) > 0) n['title'] = random(2) === 0 ? 'Hello' : oneOf([...strings(Limits.titleMaxChars), 3, null]);
      if (random(3) > 0) n['message'] = random(2) === 0 ? 'World' : oneOf([...strings(Limits.messageMaxChars), false, null]);
      if (random(3) > 0) n['data'] = oneOf([{}, { a: 1 }, [], 'text', null, 1, Object.create(null)]);
      if (random(8) === 0) n[oneOf(['extra', '__proto__', 'constructor'])] = 1;
      return oneOf([n, n, n, n, n, null, [], 'x']);
    };
    const GOOD = { target: 'reg_3q2-7wEvQ_uZtSpcH2Ngxw', type: 'device', ttl: '1h', priority: 'normal', collapse_key: 'news' } as const;
    let plain = 0;
    for (let i = 0; i < 20_000; i++) {
      const body: Record<string, unknown> = {};
      for (const [key, choices] of Object.entries(values)) {
        // Rare: send_at and an unknown field (never plain); often: each of the others.
        if (key === 'extra' || key === 'send_at' ? random(8) > 0 : random(6) === 0) continue;
        // Mostly a good value, so that the bodies are near-valid: one or two fields off.
        const good = GOOD[key as keyof typeof GOOD];
        const value = good !== undefined && random(3) > 0 ? good : oneOf(choices as readonly unknown[]);
        if (value !== undefined || random(2) === 0) body[key] = value;
      }
      if (random(6) > 0) body['notification'] = notifications();
      const candidate = random(10) === 0 ? JSON.parse(JSON.stringify(body)) : body;
      if (!isPlainSend(candidate)) continue;
      plain++;
      const parsed = SendMessageRequest.safeParse(candidate);
      if (!parsed.success) throw new Error(`taken without the schema, refused by it: ${JSON.stringify(candidate)}`);
      // What the rest reads is the same either way: the schema's output has the body's fields and values.
      expect(parsed.data).toStrictEqual(candidate);
    }
    // The generator reaches the fast path often enough for this to mean something.
    expect(plain).toBeGreaterThan(500);
  });
});

describe('parseMulticastRequest', () => {
  const multicast = (body: unknown) => parseMulticastRequest(body, NOW);
  const fieldsOfMulticast = (body: unknown): Record<string, string> => {
    try {
      multicast(body);
    } catch (err) {
      expect((err as DomainError).code).toBe(ErrorCode.InvalidArgument);
      expect((err as DomainError).message).toMatch(/^invalid multicast: /);
      return (err as DomainError).details.fields ?? {};
    }
    throw new Error('expected the body to be refused');
  };
  const notification = { title: 'Hi' };

  it('takes the listed ids as given (each judged later) and the rest as a send', () => {
    expect(multicast({ registration_ids: ['reg-1', 'a b', 'reg-1'], ttl: '1h', notification, priority: 'high', send_at: '2027-01-31T09:30:00Z' })).toEqual({
      registrationIds: ['reg-1', 'a b', 'reg-1'],
      request: { ttlSeconds: 3600, notification: { title: 'Hi', message: '', data: null }, priority: 'high', collapseKey: null, sendAtMs: NOW + 30 * 60_000 },
    });
  });

  it('names what is wrong with registration_ids', () => {
    expect(fieldsOfMulticast({ notification })).toEqual({ registration_ids: 'is required: an array of registration ids' });
    expect(fieldsOfMulticast({ registration_ids: 'reg-1', notification })).toEqual({ registration_ids: 'must be an array of registration ids' });
    expect(fieldsOfMulticast({ registration_ids: [], notification })).toEqual({ registration_ids: 'must hold 1 to 1000 registration ids (got 0)' });
    expect(fieldsOfMulticast({ registration_ids: Array.from({ length: 1001 }, (_, i) => `r${i}`), notification })).toEqual({ registration_ids: 'must hold 1 to 1000 registration ids (got 1001)' });
    expect(fieldsOfMulticast({ registration_ids: ['reg-1', 7, null], notification })).toEqual({ 'registration_ids[1]': 'must be a string', 'registration_ids[2]': 'must be a string' });
  });

  it('refuses target and type with a hint, and every send field problem at once', () => {
    expect(fieldsOfMulticast({ registration_ids: ['reg-1'], target: 'reg-1', type: 'device', notification: { title: 'x'.repeat(513) }, ttl: '1d', colour: 'red' })).toEqual({
      target: 'is not a field of a multicast: name the recipients in registration_ids',
      type: 'is not a field of a multicast: name the recipients in registration_ids',
      colour: 'is not a known field',
      'notification.title': 'is 513 characters; the limit is 512',
      ttl: 'must be a duration like "5h30m" (units h, m, s) of at most 28 days',
    });
    expect(fieldsOfMulticast({ registration_ids: ['reg-1'], notification: {} })).toEqual({ notification: 'needs at least one of title, message (not empty) or data' });
    expect(fieldsOfMulticast(['reg-1'])).toEqual({ body: 'must be a JSON object' });
  });
});
