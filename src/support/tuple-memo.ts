// Values remembered by a tuple of up to four parts, found through nested maps: no key string is joined
// per lookup, which on NMI's per-request paths (metric series, cache keys, log fragments, pod keys) was
// garbage made thousands of times a second. Unused trailing parts are left undefined.
//
// Bounded: parts often come from callers (a resource is whatever a pod asks for), so once `maxEntries`
// values are remembered the memo forgets them all and starts over; a forgotten value is simply made
// again.

type Level<V> = Map<unknown, Map<unknown, Map<unknown, Map<unknown, V>>>>;

export class TupleMemo<V> {
  readonly #maxEntries: number;
  #root: Level<V> = new Map();
  #size = 0;

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries;
  }

  /** How many values are remembered now. */
  get size(): number {
    return this.#size;
  }

  get(a: unknown, b?: unknown, c?: unknown, d?: unknown): V | undefined {
    return this.#root.get(a)?.get(b)?.get(c)?.get(d);
  }

  set(value: V, a: unknown, b?: unknown, c?: unknown, d?: unknown): V {
    if (this.#size >= this.#maxEntries) {
      this.#root = new Map();
      this.#size = 0;
    }
    const byD = branch(branch(branch(this.#root, a), b), c);
    if (!byD.has(d)) this.#size++;
    byD.set(d, value);
    return value;
  }
}

/** The map under `part` in `level`, made when missing. */
function branch<V>(level: Map<unknown, V>, part: unknown): V {
  let next = level.get(part);
  if (next === undefined) {
    next = new Map() as V;
    level.set(part, next);
  }
  return next;
}
