// Expected failures are values, not exceptions.
export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const invalid = <T = never>(error: string): Result<T> => ({ ok: false, error });
