// A background round run now and then every `intervalSeconds`, never two at once;
// stopping waits for the round in flight. The sweep and the outbox worker use it.
export function runEvery(intervalSeconds: number, round: () => Promise<unknown>): () => Promise<void> {
  let running: Promise<unknown> = Promise.resolve();
  let busy = false;
  let stopped = false;
  const tick = () => {
    if (stopped || busy) return;
    busy = true;
    running = round().finally(() => {
      busy = false;
    });
  };
  tick();
  const timer = setInterval(tick, intervalSeconds * 1000);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
