/**
 * undici, loaded on first use: it takes longer to import than the rest of the library together (~170 ms), and most
 * runs (a local file, a `--help`) never open a connection.
 */
import type { Agent, Dispatcher } from 'undici';

let loading: Promise<typeof import('undici')> | undefined;

export function loadUndici(): Promise<typeof import('undici')> {
  loading ??= import('undici');
  return loading;
}

/**
 * A dispatcher made on first use: the caller's own (left open by `close`), or a pool of our own with `agentOptions`
 * (destroyed by `close`), composed with `compose` when given.
 */
export class LazyDispatcher {
  readonly #given: Dispatcher | undefined;
  readonly #agentOptions: Agent.Options;
  readonly #compose: ((undici: typeof import('undici'), dispatcher: Dispatcher) => Dispatcher) | undefined;
  #made: Promise<{ agent: Agent | undefined; dispatcher: Dispatcher }> | undefined;
  #closed = false;

  constructor(options: {
    given?: Dispatcher | undefined;
    agentOptions: Agent.Options;
    compose?: (undici: typeof import('undici'), dispatcher: Dispatcher) => Dispatcher;
  }) {
    this.#given = options.given;
    this.#agentOptions = options.agentOptions;
    this.#compose = options.compose;
  }

  get(): Promise<Dispatcher> {
    this.#made ??= loadUndici().then((undici) => {
      const agent = this.#given === undefined ? new undici.Agent(this.#agentOptions) : undefined;
      const base = this.#given ?? (agent as Agent);
      return { agent, dispatcher: this.#compose === undefined ? base : this.#compose(undici, base) };
    });
    return this.#made.then(({ dispatcher }) => dispatcher);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const made = await this.#made?.catch(() => undefined);
    await made?.agent?.destroy().catch(() => undefined);
  }
}
