/**
 * An open-loop schedule: `rate` sends per second for `ms`, each told its intended send time, so
 * latency is measured from when a call was due, not from when a busy client got round to it
 * (no coordinated omission). Resolves with the window's real length.
 */
export function openLoop(rate: number, ms: number, send: (intended: number) => void): Promise<number> {
  return new Promise((resolve) => {
    const started = performance.now();
    let sent = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      if (now - started >= ms) {
        clearInterval(timer);
        resolve(now - started);
        return;
      }
      const due = Math.floor(((now - started) * rate) / 1000);
      while (sent < due) send(started + (sent++ * 1000) / rate);
    }, 1);
  });
}
