// The loop the background workers share (durable jobs, event deliveries): a run claims and does what is due; one run
// at a time, a kick during a run makes one more run after it; kicked by wakes and by a poll timer, so nothing waits
// on memory alone.
import type { Logger } from 'pino';

export interface WorkLoop {
  /** Starts a run, or asks for one more after the current one; resolves with how much the run did. */
  kick(): Promise<number>;
  /** Runs until a run does nothing (tests); returns how much was done. */
  drain(): Promise<number>;
  /** Stops kicking and polling and waits for the current run. */
  stop(): Promise<void>;
  readonly stopped: boolean;
}

export interface WorkLoopOptions {
  log: Logger;
  name: string;
  /** One run: does what is due and returns how much it did. */
  run: () => Promise<number>;
  /** Poll every so many ms; undefined: only kicks (tests drain). */
  pollMs?: number;
  /** Called when a kick arrives during a run (a run waiting on work in flight can look again at once). */
  onKickWhileRunning?: () => void;
  /** Work done on each poll tick besides the run (housekeeping). */
  everyTick?: () => Promise<void>;
}

export function startWorkLoop(options: WorkLoopOptions): WorkLoop {
  let current: Promise<number> | undefined;
  let again = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  function kick(): Promise<number> {
    if (current) {
      again = true;
      options.onKickWhileRunning?.();
      return current;
    }
    current = options
      .run()
      .catch((err) => {
        options.log.error({ err }, `${options.name} loop failed`);
        return 0;
      })
      .finally(() => {
        current = undefined;
        if (again && !stopped) {
          again = false;
          void kick();
        }
      });
    return current;
  }

  const { pollMs } = options;
  if (pollMs !== undefined) {
    const tick = () => {
      if (stopped) return;
      const extra = options
        .everyTick?.()
        .catch((err) => options.log.warn({ err }, `${options.name} tick failed`));
      void Promise.all([kick(), extra]).finally(() => {
        if (!stopped) timer = setTimeout(tick, pollMs);
      });
    };
    timer = setTimeout(tick, 0);
  }

  return {
    kick,
    async drain() {
      let n = 0;
      for (;;) {
        if (current) n += await current;
        const ran = await kick();
        n += ran;
        if (ran === 0 && !current) return n;
      }
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (current) await current;
    },
    get stopped() {
      return stopped;
    },
  };
}
