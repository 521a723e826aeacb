// The logging surface the Kubernetes access layer needs. It matches pino's `(fields, message)` call
// shape, so the roles pass their pino logger (or a child of it) straight in.
export interface KubeLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

const ignore = () => {};
export const silentLogger: KubeLogger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
