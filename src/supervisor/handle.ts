// What the supervisor publishes to the rest of the process: the PoolHandle (read the pool, signal it, talk to its
// children, hear its events, set the config later forks get) and the PoolExtension seam. Backends (Celery's
// remote-control node) and ops surfaces (metrics, systemd) plug in here; the supervisor imports none of them.
import type { Logger } from 'pino';
import type { WorkerConfig } from '../config/types.js';
import type { ChildMessage, ParentMessage } from '../ipc/messages.js';
import type { PoolSnapshot } from './driver.js';
import type { PoolEventMap, PoolEventName, PoolSignal } from './types.js';

export type Unsubscribe = () => void;

export interface PoolHandle {
  readonly logger: Logger;
  /** The pool as it is now (a copy). */
  snapshot(): PoolSnapshot;
  /** Same effect as the process receiving the signal (TTIN grows, HUP rolls, TERM drains...). */
  signal(sig: PoolSignal): void;
  /** New autoscale bounds (null keeps one); ignored with a warning when the pool runs without --autoscale. */
  setAutoscale(max: number | null, min: number | null): void;
  /** Send to one child by its gen (ChildSnapshot.gen); false when that child is not connected. */
  send(gen: number, msg: ParentMessage): boolean;
  /** Every message a child sends, after the pool reduced it (inspectReply and extension messages are for you). */
  onChildMessage(listener: (gen: number, msg: ChildMessage) => void): Unsubscribe;
  /** A typed pool event; listeners run after the reduction's effects, guarded (a throw is logged, nothing more). */
  on<K extends PoolEventName>(name: K, listener: (event: PoolEventMap[K]) => void): Unsubscribe;
  /** The config the next forked child gets. */
  childConfig(): WorkerConfig;
  /** Replace the config every LATER fork gets (children already running keep theirs: tell them over IPC). */
  setChildConfig(update: (current: WorkerConfig) => WorkerConfig): void;
}

/** A part the supervisor runs beside the pool (chosen by the CLI/ops layer from the backend registry). */
export interface PoolExtension {
  readonly name: string;
  /** Before the first fork: subscribe, seed the child config. Synchronous and without IO; a throw is logged. */
  attach?(pool: PoolHandle): void;
  /**
   * Once, when the pool is first ready: IO that would take CPU from booting children waits until then (Celery's own
   * worker starts its remote control late too). A rejection is logged and the pool runs on without it. `signal`
   * aborts when the pool exits before the start settled (a broker that is down must not hold the exit).
   */
  start?(signal: AbortSignal): Promise<void>;
  /** After the last child exited; the supervisor waits for it at most EXTENSION_CLOSE_MS, then aborts `signal`. */
  close?(): Promise<void>;
}

/** How long the supervisor's exit waits for its extensions to close (a worker-offline event, a socket close). */
export const EXTENSION_CLOSE_MS = 2000;
