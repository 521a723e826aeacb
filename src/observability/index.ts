// Public face of logging and metrics.
export {
  createLogger,
  type LogDestination,
  type LogFn,
  type Logger,
  type LoggerOptions,
  pinoLevelFor,
  silentLogger,
  type VerboseLogger,
} from "./logger.ts";
export { createMetricsRegistry, type MetricsRegistry, metricsPrefix, prefixedMetricName } from "./metrics.ts";
export { type MetricsServer, type MetricsServerOptions, startMetricsServer } from "./metrics-server.ts";
export { renderTextLine } from "./text-format.ts";
