/**
 * The value of an opened JSON field (`openFields` gives its text), or `empty` when the row has
 * none. The text is what a service wrote (JSON.stringify) or a legacy jsonb value's JSON, so it
 * always parses; a value that did not would be a defect worth failing on, not hiding.
 */
export function jsonValue<T>(text: string | null, empty: T): T {
  return text === null ? empty : (JSON.parse(text) as T);
}
