import { ackKey } from './device-session';

/**
 * What a transport instance remembers of the notifications of group pushes (one message written to
 * many connections in a row: an application-wide or topic send) that their devices have not yet
 * acknowledged: per message, one bit per connection slot. An Ack counts only for notifications
 * written to that connection (finding 4, docs/security.md); a session remembers its first
 * outstanding notification itself and the rest of a direct push's in a Set of its own, but a
 * broadcast to devices that do not acknowledge would put one more entry into every connection's
 * Set per message: a store into a structure per connection, about 3 % of the broadcast
 * benchmark's throughput. Here a broadcast sets bits in one small array that stays in the cache
 * while the message is written (docs/benchmarks.md, "a fourth look").
 *
 * Slots are small integers a session takes on its first group notification and gives back when it
 * closes; a slot taken again starts a new tenancy (`since`), so the bits its earlier holder left
 * in older messages never count for the new one. Memory is bounded: past `maxBytes` the oldest
 * messages are forgotten, and a late Ack of one is ignored (the delivery stays open and is sent
 * again on the device's next connection, as when a session forgets past its own bound).
 */
export class GroupDeliveries {
  /** The message key of the last delivery on this instance, whoever it went to: a group is a run of one key. */
  private lastKey = -1;
  /** The last message id `keyOf` hashed, and its key: a run of one message hashes its id once. */
  private lastId = '';
  private lastIdKey = ackKey('');
  /** The message the current run records into; null until a delivery of the run needs it. */
  private current: GroupEntry | null = null;
  /** The newest entry per message key; older entries of the key hang off it (`older`). */
  private readonly byKey = new Map<number, GroupEntry>();
  /** Every live entry, oldest first, for eviction: `head` is the oldest one not yet forgotten. */
  private entries: (GroupEntry | null)[] = [];
  private head = 0;
  private nextSeq = 0;
  private bytes = 0;
  private live = 0;
  /** Messages forgotten for the memory bound while some device had not acknowledged them. */
  private evictedMessages = 0;
  /** Slots given back, taken again first (so bitsets stay as short as the connections are few). */
  private readonly freeSlots: number[] = [];
  private slotsInUse = 0;
  private highestSlot = 0;

  constructor(private readonly maxBytes = DEFAULT_MAX_BYTES) {}

  /**
   * `ackKey(messageId)`, computed once for a run of deliveries of one message id (comparing the id
   * with the last one costs a tenth of hashing it: a broadcast to 5,000 devices hashes it once).
   */
  keyOf(messageId: string): number {
    if (messageId !== this.lastId) {
      this.lastId = messageId;
      this.lastIdKey = ackKey(messageId);
    }
    return this.lastIdKey;
  }

  /**
   * Called for every delivery a session takes: true when it continues a run of the message that the
   * previous delivery on this instance was of (a group push), so `record` may keep it.
   */
  continuesRun(key: number): boolean {
    if (key === this.lastKey) return true;
    this.lastKey = key;
    // The run is over: an entry every device of it acknowledged already (or none needed) goes now.
    if (this.current !== null && this.current.count === 0) this.forget(this.current);
    this.current = null;
    return false;
  }

  /** A slot for a session (with `since`, its tenancy) until it calls `release`. */
  takeSlot(): number {
    this.slotsInUse++;
    const slot = this.freeSlots.pop();
    if (slot !== undefined) return slot;
    return this.highestSlot++;
  }

  /** The tenancy a slot taken now starts: entries older than it were recorded for earlier holders. */
  get tenancy(): number {
    return this.nextSeq;
  }

  release(slot: number): void {
    this.slotsInUse--;
    this.freeSlots.push(slot);
  }

  /**
   * Remembers that the current run's message (key) was written to `slot`. False when this cannot be
   * recorded here (the run's entry is older than the slot's tenancy): the session remembers it itself.
   */
  record(key: number, slot: number, since: number): boolean {
    let entry = this.current;
    if (entry === null || entry.key !== key) {
      entry = this.open(key);
      this.current = entry;
    }
    if (entry.seq < since) return false;
    const word = slot >>> 5;
    let bits = entry.bits;
    if (word >= bits.length) bits = this.grow(entry, word + 1);
    const bit = 1 << (slot & 31);
    if ((bits[word]! & bit) === 0) {
      bits[word] = bits[word]! | bit;
      entry.count++;
    }
    return true;
  }

  /**
   * An Ack of `key` on `slot` (tenancy `since`): true, once, when it was recorded for this tenancy
   * (in every entry of the key that has it: a message written again in a later run).
   */
  acknowledge(key: number, slot: number, since: number): boolean {
    const word = slot >>> 5;
    const bit = 1 << (slot & 31);
    let found = false;
    for (let entry = this.byKey.get(key); entry !== undefined && entry.seq >= since; ) {
      const older = entry.older;
      if (word < entry.bits.length && (entry.bits[word]! & bit) !== 0) {
        entry.bits[word] = entry.bits[word]! & ~bit;
        found = true;
        if (--entry.count === 0 && entry !== this.current) this.forget(entry);
      }
      entry = older;
    }
    return found;
  }

  /** Places in the eviction queue, forgotten ones not yet compacted away included (for tests). */
  get queueLength(): number {
    return this.entries.length;
  }

  /**
   * Messages remembered, the bytes they take (bitsets and entries), slots in use, and messages
   * forgotten since start for the memory bound (their late Acks are ignored; a steady rise means
   * the bound is small for how long devices take to acknowledge).
   */
  get size(): { messages: number; bytes: number; slots: number; evicted: number } {
    return { messages: this.live, bytes: this.bytes, slots: this.slotsInUse, evicted: this.evictedMessages };
  }

  private open(key: number): GroupEntry {
    const words = Math.max(MIN_WORDS, (this.highestSlot + 31) >>> 5);
    this.makeRoom(ENTRY_BYTES + words * 4);
    const older = this.byKey.get(key);
    const entry: GroupEntry = { key, seq: this.nextSeq++, bits: new Uint32Array(words), count: 0, older, index: this.entries.length };
    this.byKey.set(key, entry);
    this.entries.push(entry);
    this.bytes += ENTRY_BYTES + words * 4;
    this.live++;
    return entry;
  }

  private grow(entry: GroupEntry, words: number): Uint32Array {
    const length = Math.max(words, entry.bits.length * 2, (this.highestSlot + 31) >>> 5);
    this.makeRoom((length - entry.bits.length) * 4);
    const bits = new Uint32Array(length);
    bits.set(entry.bits);
    this.bytes += (length - entry.bits.length) * 4;
    entry.bits = bits;
    return bits;
  }

  private makeRoom(bytes: number): void {
    while (this.bytes + bytes > this.maxBytes && this.head < this.entries.length) {
      const oldest = this.entries[this.head];
      if (oldest && oldest !== this.current) {
        this.forget(oldest);
        this.evictedMessages++;
      } else if (oldest) break;
      else this.head++;
    }
    if (this.entries.length > 1024 && this.entries.length > 2 * this.live) {
      // Compact the queue once most of it is forgotten places, wherever they are (behind one old
      // message nobody acknowledges, the head would not move).
      this.entries = this.entries.filter((entry) => entry !== null);
      for (let i = 0; i < this.entries.length; i++) this.entries[i]!.index = i;
      this.head = 0;
    }
  }

  /** Drops an entry: its bits (a later Ack of it finds nothing) and its place in the queue. */
  private forget(entry: GroupEntry): void {
    this.bytes -= ENTRY_BYTES + entry.bits.length * 4;
    this.live--;
    entry.bits = EMPTY;
    entry.count = 0;
    this.entries[entry.index] = null;
    while (this.head < this.entries.length && this.entries[this.head] === null) this.head++;
    // Unlink: newer entries of the key point past it; the newest is the map's.
    let newer: GroupEntry | undefined;
    for (let e = this.byKey.get(entry.key); e !== undefined && e !== entry; e = e.older) newer = e;
    if (newer) newer.older = entry.older;
    else if (entry.older) this.byKey.set(entry.key, entry.older);
    else this.byKey.delete(entry.key);
    entry.older = undefined;
  }
}

interface GroupEntry {
  readonly key: number;
  /** Creation order: sessions whose slot tenancy began after it find nothing of theirs here. */
  readonly seq: number;
  bits: Uint32Array;
  /** Bits set: at zero every device acknowledged, and the entry goes. */
  count: number;
  older: GroupEntry | undefined;
  index: number;
}

const EMPTY = new Uint32Array(0);
/** What an entry costs besides its bits: the object, its bitset's header, its places in the map and the queue. */
const ENTRY_BYTES = 160;
const MIN_WORDS = 32;
/** 32 MiB: at 500,000 connections, the last 500 or so group pushes; at 5,000, tens of thousands. */
export const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;
