// Prometheus metrics under the original's namespace: every name gets the "aadpodidentity_" prefix.
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export const metricsPrefix = "aadpodidentity_";

export interface MetricsRegistry {
  readonly registry: Registry;
  /** Returns the already-registered counter of that name, so modules can declare the same metric. */
  counter<L extends string = string>(name: string, help: string, labelNames?: readonly L[]): Counter<L>;
  gauge<L extends string = string>(name: string, help: string, labelNames?: readonly L[]): Gauge<L>;
  histogram<L extends string = string>(
    name: string,
    help: string,
    buckets: readonly number[],
    labelNames?: readonly L[],
  ): Histogram<L>;
  /** The exposition text, as /metrics serves it. */
  metrics(): Promise<string>;
  readonly contentType: string;
}

export function prefixedMetricName(name: string): string {
  return name.startsWith(metricsPrefix) ? name : `${metricsPrefix}${name}`;
}

export function createMetricsRegistry(): MetricsRegistry {
  const registry = new Registry();

  function existing<M>(name: string, isKind: (metric: unknown) => metric is M): M | undefined {
    const found = registry.getSingleMetric(name);
    if (found === undefined) return undefined;
    if (!isKind(found)) throw new Error(`metric ${name} is already registered with another type`);
    return found;
  }

  return {
    registry,
    counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []) {
      const full = prefixedMetricName(name);
      const isCounter = (metric: unknown): metric is Counter<L> => metric instanceof Counter;
      return existing(full, isCounter) ?? new Counter<L>({ name: full, help, labelNames, registers: [registry] });
    },
    gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []) {
      const full = prefixedMetricName(name);
      const isGauge = (metric: unknown): metric is Gauge<L> => metric instanceof Gauge;
      return existing(full, isGauge) ?? new Gauge<L>({ name: full, help, labelNames, registers: [registry] });
    },
    histogram<L extends string>(name: string, help: string, buckets: readonly number[], labelNames: readonly L[] = []) {
      const full = prefixedMetricName(name);
      const isHistogram = (metric: unknown): metric is Histogram<L> => metric instanceof Histogram;
      return (
        existing(full, isHistogram) ??
        new Histogram<L>({ name: full, help, buckets: [...buckets], labelNames, registers: [registry] })
      );
    },
    metrics: () => registry.metrics(),
    get contentType() {
      return registry.contentType;
    },
  };
}
