// IMDS's documented limits: 20 requests per second and 5 concurrent requests per VM; beyond them
// it answers 429. A sliding one-second window plus an in-flight counter.

export interface RequestLimiter {
  /** Returns a release function when admitted, or undefined when the request must get 429. */
  tryAcquire(now: number): (() => void) | undefined;
}

export function createRequestLimiter(perSecond: number, concurrent: number): RequestLimiter {
  const admitted: number[] = [];
  let inFlight = 0;
  return {
    tryAcquire(now) {
      while (admitted.length > 0 && now - (admitted[0] ?? now) >= 1000) admitted.shift();
      if (admitted.length >= perSecond || inFlight >= concurrent) return undefined;
      admitted.push(now);
      inFlight += 1;
      let released = false;
      return () => {
        if (!released) inFlight -= 1;
        released = true;
      };
    },
  };
}
