/**
 * Builds a handler's runtime once per container and shares it between invocations. A build that
 * failed (Secrets Manager unreachable, a throttled call) is forgotten, so the next invocation tries
 * again: keeping the rejected promise would fail every later invocation of that container.
 */
export function onceUntilFailed<T>(build: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    if (!pending) {
      const attempt = build();
      pending = attempt;
      attempt.catch(() => {
        if (pending === attempt) pending = undefined;
      });
    }
    return pending;
  };
}
