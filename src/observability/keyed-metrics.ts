// Counters and histograms for per-request paths. Each series is found by a key string the caller already
// has (e.g. "token|200"), so an update is one Map lookup and an addition; the label object is built once
// per series, when the key is first seen. prom-client's own inc()/observe() validate and hash the label
// object on every call, which measured at ~15% of a cached token request through NMI (bench/nmi-token.ts).
// Exposition stays prom-client's: the counter is a prom-client Counter fed at scrape time, the histogram
// is registered in the same Registry and reports the shape prom-client's Histogram reports.
import { Counter, type Metric, type Registry } from "prom-client";
import { TupleMemo } from "../support/tuple-memo.ts";

type Labels<L extends string> = Record<L, string>;

export interface KeyedMetricOptions<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  registers: Registry[];
}

interface CounterSeries<L extends string> {
  labels: Labels<L>;
  pending: number;
}

export class KeyedCounter<L extends string> {
  /** The prom-client counter this one feeds; it is brought up to date whenever it is collected. */
  readonly counter: Counter<L>;
  readonly #series = new Map<string, CounterSeries<L>>();

  constructor(options: KeyedMetricOptions<L>) {
    const pending = this.#series;
    this.counter = new Counter<L>({
      name: options.name,
      help: options.help,
      labelNames: [...options.labelNames],
      registers: options.registers,
      collect() {
        for (const series of pending.values()) {
          if (series.pending === 0) continue;
          this.inc(series.labels, series.pending);
          series.pending = 0;
        }
      },
    });
  }

  /** Adds one to the series `key` names; `labels` must be the same for every call with that key. */
  inc(key: string, labels: Labels<L>): void {
    if (!this.incKnown(key)) this.#series.set(key, { labels: { ...labels }, pending: 1 });
  }

  /** Adds one to the series `key` names if it exists; false (and nothing counted) for a new key. */
  incKnown(key: string): boolean {
    const series = this.#series.get(key);
    if (!series) return false;
    series.pending++;
    return true;
  }
}

interface HistogramSeries<L extends string> {
  labels: Labels<L>;
  /** Observations per bucket (not cumulative); the last slot counts those above every bound. */
  buckets: Float64Array;
  sum: number;
  count: number;
}

/** One exposed sample, in the shape prom-client's Registry formats (its own types for it are not exported). */
interface ExposedSample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

export interface ExposedHistogram {
  name: string;
  help: string;
  type: "histogram";
  aggregator: "sum";
  values: ExposedSample[];
}

/** A histogram with the bucket semantics and exposition of prom-client's Histogram (le ≥ value). */
export class KeyedHistogram<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = "histogram" as const;
  readonly aggregator = "sum" as const;
  readonly labelNames: readonly L[];
  readonly #upperBounds: readonly number[];
  #series = new Map<string, HistogramSeries<L>>();

  constructor(options: KeyedMetricOptions<L> & { buckets: readonly number[] }) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    this.#upperBounds = [...options.buckets].sort((a, b) => a - b);
    // The Registry reads name, help, type, aggregator and get(), and calls reset(); nothing else.
    for (const registry of options.registers) registry.registerMetric(this as unknown as Metric<string>);
  }

  /** Records `value` in the series `key` names; `labels` must be the same for every call with that key. */
  observe(key: string, labels: Labels<L>, value: number): void {
    if (this.observeKnown(key, value) || !Number.isFinite(value)) return;
    const buckets = new Float64Array(this.#upperBounds.length + 1);
    this.#series.set(key, { labels: { ...labels }, buckets, sum: 0, count: 0 });
    this.observeKnown(key, value);
  }

  /**
   * Records `value` in the series `key` names if it exists; false (and nothing recorded) for a new key.
   * Lets a hot caller build the label object only for a key it has not used before.
   */
  observeKnown(key: string, value: number): boolean {
    const series = this.#series.get(key);
    if (!series) return false;
    if (!Number.isFinite(value)) return true;
    const bounds = this.#upperBounds;
    let slot = 0;
    while (slot < bounds.length && value > (bounds[slot] as number)) slot++;
    series.buckets[slot] = (series.buckets[slot] as number) + 1;
    series.sum += value;
    series.count++;
    return true;
  }

  async get(): Promise<ExposedHistogram> {
    const values: ExposedSample[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const series of this.#series.values()) {
      let cumulative = 0;
      this.#upperBounds.forEach((bound, slot) => {
        cumulative += series.buckets[slot] as number;
        values.push({ metricName: bucketName, labels: { le: bound, ...series.labels }, value: cumulative });
      });
      values.push({ metricName: bucketName, labels: { le: "+Inf", ...series.labels }, value: series.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...series.labels }, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...series.labels }, value: series.count });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.#series = new Map();
  }
}

type Part = string | number;

/**
 * The key of a series, from its label values, found in nested maps instead of joined anew on every call
 * (a joined string per update was most of what a keyed update still allocated). Label values here are
 * bounded by the caller, as every metric label must be.
 */
/** Far more than bounded labels make; a memo that fills up just starts over. */
const MAX_REMEMBERED_SERIES_KEYS = 65_536;

export class SeriesKeys {
  readonly #keys = new TupleMemo<string>(MAX_REMEMBERED_SERIES_KEYS);

  /** The key for two label values. */
  of2(a: Part, b: Part): string {
    return this.#keys.get(a, b) ?? this.#keys.set(`${a}|${b}`, a, b);
  }

  /** The key for four label values. */
  of4(a: Part, b: Part, c: Part, d: Part): string {
    return this.#keys.get(a, b, c, d) ?? this.#keys.set(`${a}|${b}|${c}|${d}`, a, b, c, d);
  }
}
