/**
 * The secrets an object store source has seen (keys, session tokens, bearer tokens), so that no message quotes one:
 * a server's error text or a credential provider's message is scrubbed before it goes into an NpzError.
 */
export class Secrets {
  readonly #known = new Set<string>();

  add(...values: ReadonlyArray<string | undefined>): void {
    for (const value of values) if (value !== undefined && value.length >= 4) this.#known.add(value);
  }

  scrub(text: string): string {
    let out = text;
    for (const secret of this.#known) out = out.split(secret).join('…');
    return out;
  }
}
