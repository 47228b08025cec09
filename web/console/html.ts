import { h } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import htm from 'htm';

/** Tagged templates for Preact: every interpolated value is text or an attribute, escaped by Preact. */
export const html = htm.bind(h);

export const POLL_INTERVAL_MS = 5000;

/**
 * Runs `load` now and every few seconds while the screen is open (the console updates itself);
 * a new `deps` restarts it. Component state (form inputs, expanded rows, scroll) is untouched,
 * so an update never loses the operator's place.
 */
export function usePolling(load: () => Promise<void>, deps: unknown[], intervalMs = POLL_INTERVAL_MS): void {
  const latest = useRef(load);
  latest.current = load;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = async () => {
      try {
        await latest.current();
      } finally {
        if (!stopped) timer = setTimeout(tick, intervalMs);
      }
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, deps);
}

/**
 * Loads may overlap (a poll, and a refresh after a button): an answer that a newer load has
 * overtaken must not be shown, or a row just deleted could come back from a poll sent before.
 * `begin()` before fetching; the returned check, after, says whether this answer is still the
 * newest. Calling `begin()` alone drops every answer still on its way.
 */
export function useNewestOnly(): () => () => boolean {
  const started = useRef(0);
  return () => {
    const sequence = ++started.current;
    return () => sequence === started.current;
  };
}
