// How long to pause before the next attempt: the interval, or longer when the server asked for it,
// but never past the deadline.
export function nextDelayMs(intervalMs: number, serverDelayMs: number | undefined, remainingMs: number): number {
  const wanted = Math.max(intervalMs, serverDelayMs ?? 0);
  return Math.max(0, Math.min(wanted, remainingMs));
}
