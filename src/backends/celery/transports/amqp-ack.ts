// Acks of one consumer channel, coalesced: acks asked for in the same turn of the event loop go out together, and
// the longest run from the channel's oldest unsettled delivery up goes as ONE basic.ack with `multiple` (every
// delivery below it is settled or in this batch), the rest one by one. Fewer frames for the broker to process,
// same meaning: a delivery is never acked before its own ack was asked for.
import type { Message } from 'amqplib';
import { ChurnMap } from '../../../util/churn-map.js';

export interface AckChannel {
  ack(message: Message, allUpTo?: boolean): void;
}

export class Acker {
  /** Delivered on this channel and not settled yet, by delivery tag. */
  readonly #out = new ChurnMap<number, Message>();
  #pending: Message[] = [];
  #scheduled = false;

  constructor(private readonly ch: AckChannel) {}

  /** A delivery arrived (call it synchronously on arrival: a later multiple ack must never cover it). */
  hold(m: Message): void {
    this.#out.set(m.fields.deliveryTag, m);
  }

  /** Settled some other way (nack, reject): no longer outstanding. */
  drop(m: Message): void {
    this.#out.delete(m.fields.deliveryTag);
  }

  get outstanding(): number {
    return this.#out.size;
  }

  ack(m: Message): void {
    this.#pending.push(m);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      try {
        this.flush();
      } catch {
        // the channel closed meanwhile: the broker gives those deliveries out again
      }
    });
  }

  /** Send what is pending now. Throws if the channel is closed (its deliveries went back to the broker). */
  flush(): void {
    this.#scheduled = false;
    if (this.#pending.length === 0) return;
    const pend = this.#pending.splice(0).sort((a, b) => a.fields.deliveryTag - b.fields.deliveryTag);
    const asked = new Set(pend.map((m) => m.fields.deliveryTag));
    let low = Number.POSITIVE_INFINITY;
    for (const tag of this.#out.keys()) if (!asked.has(tag) && tag < low) low = tag;
    let upTo: Message | null = null;
    const single: Message[] = [];
    for (const m of pend) {
      this.#out.delete(m.fields.deliveryTag);
      if (m.fields.deliveryTag < low) upTo = m;
      else single.push(m);
    }
    if (upTo !== null) this.ch.ack(upTo, true);
    for (const m of single) this.ch.ack(m);
  }
}
