import { ackKey } from './device-session';
import { GroupDeliveries } from './group-deliveries';

describe('GroupDeliveries', () => {
  it('keys a message id as ackKey does, whether it repeats the last id or not', () => {
    const groups = new GroupDeliveries();
    const ids = ['', 'm-1', 'm-1', 'm-2', 'm-1', 'é', '01936f5e-7c1a-7b3e-9a4f-000000000001'];
    for (const id of ids) expect(groups.keyOf(id)).toBe(ackKey(id));
    // The same id as another string object (a record decoded afresh): the same key.
    const [a, b] = ['01936f5e-7c1a-7b3e-9a4f-', '000000000042'];
    expect(groups.keyOf(a + b)).toBe(groups.keyOf([a, b].join('')));
    expect(groups.keyOf(a + b)).toBe(ackKey(`${a}${b}`));
  });

  it('sees a run: the second delivery of one message in a row continues it, another message ends it', () => {
    const groups = new GroupDeliveries();
    expect(groups.continuesRun(7)).toBe(false);
    expect(groups.continuesRun(7)).toBe(true);
    expect(groups.continuesRun(7)).toBe(true);
    expect(groups.continuesRun(8)).toBe(false);
    expect(groups.continuesRun(7)).toBe(false);
  });

  it('counts an Ack once, for the slot the message was recorded for', () => {
    const groups = new GroupDeliveries();
    const [a, b] = [groups.takeSlot(), groups.takeSlot()];
    groups.continuesRun(1);
    expect(groups.record(1, a, 0)).toBe(true);
    expect(groups.acknowledge(1, b, 0)).toBe(false);
    expect(groups.acknowledge(2, a, 0)).toBe(false);
    expect(groups.acknowledge(1, a, 0)).toBe(true);
    expect(groups.acknowledge(1, a, 0)).toBe(false);
  });

  it('never counts for a slot taken again what was recorded for its earlier holder', () => {
    const groups = new GroupDeliveries();
    const first = groups.takeSlot();
    const firstSince = groups.tenancy;
    groups.continuesRun(1);
    groups.record(1, first, firstSince);
    groups.release(first);
    const since = groups.tenancy;
    const again = groups.takeSlot();
    expect(again).toBe(first);
    expect(groups.acknowledge(1, again, since)).toBe(false);
    // The run that was open when the slot changed hands cannot record the new holder: it keeps it itself.
    expect(groups.record(1, again, since)).toBe(false);
    groups.continuesRun(2);
    expect(groups.record(2, again, since)).toBe(true);
    expect(groups.acknowledge(2, again, since)).toBe(true);
  });

  it('finds a message recorded in two runs, and forgets an entry every slot acknowledged', () => {
    const groups = new GroupDeliveries();
    const slots = Array.from({ length: 40 }, () => groups.takeSlot());
    groups.continuesRun(5);
    for (const slot of slots) groups.record(5, slot, 0);
    groups.continuesRun(6);
    groups.record(6, slots[0]!, 0);
    groups.continuesRun(5);
    groups.record(5, slots[0]!, 0);
    expect(groups.size.messages).toBe(3);
    // Slot 0 has message 5 in both runs: one Ack clears both.
    expect(groups.acknowledge(5, slots[0]!, 0)).toBe(true);
    expect(groups.acknowledge(5, slots[0]!, 0)).toBe(false);
    for (const slot of slots.slice(1)) expect(groups.acknowledge(5, slot, 0)).toBe(true);
    // The first run of 5 is gone; the second is the current run and stays until it ends.
    expect(groups.size.messages).toBe(2);
    groups.continuesRun(9);
    expect(groups.size.messages).toBe(1);
    expect(groups.acknowledge(6, slots[0]!, 0)).toBe(true);
    // Acknowledged by every device, not forgotten for the bound.
    expect(groups.size).toEqual({ messages: 0, bytes: 0, slots: 40, evicted: 0 });
  });

  it('keeps its memory bound by forgetting the oldest messages', () => {
    const maxBytes = 64 * 1024;
    const groups = new GroupDeliveries(maxBytes);
    const slots = Array.from({ length: 5000 }, () => groups.takeSlot());
    for (let message = 1; message <= 200; message++) {
      groups.continuesRun(message);
      for (const slot of slots) groups.record(message, slot, 0);
      expect(groups.size.bytes).toBeLessThanOrEqual(maxBytes);
    }
    // 5,000 slots: 628 bytes of bits a message and its entry, so about 80 of the last messages are kept.
    const kept = groups.size.messages;
    expect(kept).toBeGreaterThan(70);
    expect(kept).toBeLessThan(90);
    // The messages before them were forgotten for the bound, the current one never is.
    expect(groups.size.evicted).toBe(200 - kept);
    expect(groups.acknowledge(1, slots[0]!, 0)).toBe(false);
    expect(groups.acknowledge(200 - kept + 1, slots[4999]!, 0)).toBe(true);
    expect(groups.acknowledge(200, slots[2500]!, 0)).toBe(true);
  });

  it('keeps its queue as short as what it remembers when an old message is never acknowledged', () => {
    const groups = new GroupDeliveries();
    const [silent, reader] = [groups.takeSlot(), groups.takeSlot()];
    groups.continuesRun(1);
    groups.record(1, silent, 0);
    // Many later messages, each acknowledged at once: only the first stays.
    for (let message = 2; message <= 20_000; message++) {
      groups.continuesRun(message);
      groups.record(message, reader, 0);
      groups.continuesRun(-message);
      expect(groups.acknowledge(message, reader, 0)).toBe(true);
    }
    expect(groups.size.messages).toBe(1);
    expect(groups.queueLength).toBeLessThan(3000);
    expect(groups.acknowledge(1, silent, 0)).toBe(true);
  });

  it('grows a message bitset for slots taken after the message was first recorded', () => {
    const groups = new GroupDeliveries();
    const first = groups.takeSlot();
    groups.continuesRun(3);
    groups.record(3, first, 0);
    const late = Array.from({ length: 3000 }, () => groups.takeSlot());
    // Taken after the entry opened, these slots' tenancy is newer: their sessions keep it themselves ...
    expect(groups.record(3, late[2999]!, groups.tenancy)).toBe(false);
    // ... but a slot whose tenancy is older than the entry (given back and taken again before) grows it.
    expect(groups.record(3, late[2999]!, 0)).toBe(true);
    expect(groups.acknowledge(3, late[2999]!, 0)).toBe(true);
    expect(groups.acknowledge(3, first, 0)).toBe(true);
  });
});
