// Rendering passes on worker threads, so that signing (most of a pass's cost) runs on the other cores while the main
// thread serves requests. Each worker keeps its own factories, keyed as the main thread's are; the first build of a
// key on a worker carries the factory's specification (certificate, key, template, images).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  type BuiltPass,
  type JsonObject,
  MissingValuesError,
  PassProblemsError,
  type Problem,
  ValueTypeError,
} from '../engine/index.js';

export interface FactorySpec {
  certificatePem: string;
  privateKeyPem: string;
  wwdrPem?: string;
  template: JsonObject;
  images: Record<string, Uint8Array>;
  /** The template's pass.strings by language. */
  strings: Record<string, Record<string, string>>;
  allowHttpWebService: boolean;
}

export interface WorkInput {
  values: Record<string, unknown>;
  overrides: JsonObject;
  images?: Record<string, Uint8Array>;
  now: number;
  notification: string | null;
}

export type SerializedError =
  | { kind: 'missing'; names: string[] }
  | { kind: 'type'; placeholder: string; got: string }
  | { kind: 'problems'; problems: Problem[] }
  | { kind: 'other'; message: string };

export interface RenderRequest {
  id: number;
  key: string;
  spec?: FactorySpec;
  input: WorkInput;
}

export type RenderResponse =
  | {
      id: number;
      ok: { pkpass: Uint8Array; passJson: JsonObject; manifest: Record<string, string>; warnings: Problem[] };
    }
  | { id: number; needSpec: true }
  | { id: number; error: SerializedError };

export function serializeError(err: unknown): SerializedError {
  if (err instanceof MissingValuesError) return { kind: 'missing', names: err.names };
  if (err instanceof ValueTypeError) return { kind: 'type', placeholder: err.placeholder, got: err.got };
  if (err instanceof PassProblemsError) return { kind: 'problems', problems: err.problems };
  return { kind: 'other', message: (err as Error).message ?? String(err) };
}

function reviveError(e: SerializedError): Error {
  switch (e.kind) {
    case 'missing':
      return new MissingValuesError(e.names);
    case 'type':
      return new ValueTypeError(e.placeholder, e.got);
    case 'problems':
      return new PassProblemsError(e.problems);
    case 'other':
      return new Error(e.message);
  }
}

class Slot {
  /** Set by RenderPool.start. */
  worker!: Worker;
  /** The factory keys this worker has. */
  readonly keys = new Set<string>();
  busy = 0;
  readonly pending = new Map<number, { resolve: (r: RenderResponse) => void; reject: (e: Error) => void }>();
}

const WORKER_FILE = fileURLToPath(new URL('./render-worker.js', import.meta.url));

/** Whether the compiled worker is there (it is not when the TypeScript sources run directly, as under Vitest). */
export const renderWorkersAvailable = (): boolean => existsSync(WORKER_FILE);

export class RenderPool {
  private readonly slots: Slot[];
  private nextId = 1;
  private closing = false;

  constructor(threads: number) {
    this.slots = Array.from({ length: threads }, () => {
      const slot = new Slot();
      this.start(slot);
      return slot;
    });
  }

  /** Starts (or restarts, after a crash) a slot's worker; requests it had in flight fail rather than hang. */
  private start(slot: Slot): void {
    const worker = new Worker(WORKER_FILE);
    worker.unref();
    worker.on('message', (response: RenderResponse) => {
      const waiter = slot.pending.get(response.id);
      slot.pending.delete(response.id);
      waiter?.resolve(response);
    });
    worker.on('error', () => undefined); // followed by 'exit'
    worker.on('exit', (code) => {
      for (const waiter of slot.pending.values())
        waiter.reject(new Error(`a render thread stopped (exit code ${code})`));
      slot.pending.clear();
      if (!this.closing) {
        slot.keys.clear();
        this.start(slot);
      }
    });
    slot.worker = worker;
  }

  private call(slot: Slot, request: RenderRequest): Promise<RenderResponse> {
    return new Promise((resolve, reject) => {
      slot.pending.set(request.id, { resolve, reject });
      slot.worker.postMessage(request);
    });
  }

  /** Builds a pass on the least busy worker; throws the engine's errors as the engine would. */
  async build(key: string, spec: () => Promise<FactorySpec>, input: WorkInput): Promise<BuiltPass> {
    const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    slot.busy++;
    try {
      let response = await this.call(slot, {
        id: this.nextId++,
        key,
        spec: slot.keys.has(key) ? undefined : await spec(),
        input,
      });
      if ('needSpec' in response)
        response = await this.call(slot, { id: this.nextId++, key, spec: await spec(), input });
      slot.keys.add(key);
      if ('error' in response) throw reviveError(response.error);
      if ('needSpec' in response) throw new Error('the render worker lost its factory');
      const { pkpass, passJson, manifest, warnings } = response.ok;
      return {
        pkpass: Buffer.from(pkpass.buffer, pkpass.byteOffset, pkpass.byteLength),
        passJson,
        manifest,
        warnings,
      };
    } finally {
      slot.busy--;
    }
  }

  get size(): number {
    return this.slots.length;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
