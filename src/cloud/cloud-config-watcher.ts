// Reloads azure.json when it changes (e.g. a rotated service principal secret). The directory is watched,
// not the file: editors and Kubernetes volume updates replace files (rename / ..data symlink swap), which a
// watch on the old inode would miss. Events are debounced and the file re-read; unchanged content is
// ignored. A bad new file keeps the last good config and is reported through onError.
import { type FSWatcher, watch } from "node:fs";
import { dirname } from "node:path";
import {
  type CloudConfig,
  CloudConfigError,
  type LoadCloudConfigOptions,
  loadCloudConfig,
  parseAzureConfigText,
  resolveCloudConfig,
} from "./cloud-config.ts";

export interface WatchCloudConfigOptions extends LoadCloudConfigOptions {
  path: string;
  /** Quiet time after the last file-system event before re-reading. Default 200 ms. */
  debounceMs?: number;
  onChange?: (config: CloudConfig, previous: CloudConfig) => void;
  onError?: (error: CloudConfigError) => void;
}

export interface CloudConfigWatcher {
  /** The last good configuration. */
  current(): CloudConfig;
  close(): void;
}

/** Loads the file (throwing CloudConfigError if it is bad) and keeps it up to date. */
export async function watchCloudConfig(options: WatchCloudConfigOptions): Promise<CloudConfigWatcher> {
  const env = options.env ?? process.env;
  let config = await loadCloudConfig({ ...options, env });
  let lastSeenText: string | undefined = await Bun.file(options.path)
    .text()
    .catch(() => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const report = (error: unknown) => {
    const problem = error instanceof CloudConfigError ? error : new CloudConfigError([String(error)]);
    options.onError?.(problem);
  };

  const reload = async () => {
    let text: string;
    try {
      text = await Bun.file(options.path).text();
    } catch (error) {
      if (lastSeenText !== undefined) report(new CloudConfigError([`cannot read ${options.path}: ${error}`]));
      lastSeenText = undefined;
      return;
    }
    if (closed || text === lastSeenText) return;
    lastSeenText = text;
    try {
      const next = resolveCloudConfig(parseAzureConfigText(text), "file", { ...options, env });
      const previous = config;
      config = next;
      options.onChange?.(next, previous);
    } catch (error) {
      report(error);
    }
  };

  let watcher: FSWatcher;
  try {
    watcher = watch(dirname(options.path), { persistent: false }, () => {
      if (closed) return;
      clearTimeout(timer);
      timer = setTimeout(() => void reload(), options.debounceMs ?? 200);
    });
  } catch (error) {
    throw new CloudConfigError([`cannot watch ${dirname(options.path)}: ${(error as Error).message}`]);
  }
  watcher.on("error", report);

  return {
    current: () => config,
    close: () => {
      closed = true;
      clearTimeout(timer);
      watcher.close();
    },
  };
}
