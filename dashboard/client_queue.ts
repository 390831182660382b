/**
 * A bounded per-client message queue for the live stream. The hub pushes one pre-serialized message to every
 * client; each client's writer drains its own queue, so a slow client only ever fills its own queue. When the
 * queue is full new messages are dropped (and counted); a queued image is replaced by a newer one instead of
 * queuing both (the page only ever shows the latest image).
 */

/** One Server-Sent Event, serialized once and shared by every client. */
export interface StreamMessage {
  event: string;
  data: string;
}

/** Events whose newer message replaces a queued older one of the same event name. */
const LATEST_ONLY = new Set(["image", "status"]);

/** Bounded FIFO of messages for one client. */
export class ClientQueue {
  readonly capacity: number;
  /** Messages dropped because the queue was full. */
  dropped = 0;
  #items: StreamMessage[] = [];
  #wake: (() => void) | null = null;
  #closed = false;

  constructor(capacity = 256) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new Error("ClientQueue: capacity must be > 0");
    this.capacity = capacity;
  }

  /** Messages waiting. */
  get length(): number {
    return this.#items.length;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Queues `m`; returns false when it was dropped (queue full or closed). */
  push(m: StreamMessage): boolean {
    if (this.#closed) return false;
    if (LATEST_ONLY.has(m.event)) {
      const i = this.#items.findIndex((x) => x.event === m.event);
      if (i >= 0) {
        this.#items[i] = m;
        return true;
      }
    }
    if (this.#items.length >= this.capacity) {
      this.dropped++;
      return false;
    }
    this.#items.push(m);
    this.#wake?.();
    return true;
  }

  /** The next message, waiting for one; null once closed. */
  async next(): Promise<StreamMessage | null> {
    while (this.#items.length === 0 && !this.#closed) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = null;
    }
    return this.#closed ? null : this.#items.shift()!;
  }

  /** Ends the queue: pending and future messages are discarded and `next()` returns null. */
  close(): void {
    this.#closed = true;
    this.#items = [];
    this.#wake?.();
  }
}
