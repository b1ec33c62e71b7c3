// Cached objects repeat the same strings many times: every child of a QwenService carries its
// name, namespace and uid (metadata, labels, ownerReferences), and every QwenService the same
// label keys and values, images, ports. JSON.parse makes a fresh copy of each. V8 keeps one copy of
// every string used as a property name (its string table, which drops entries nobody uses), so
// passing a value through a property name returns that shared copy: ~2.5 KB less per QwenService
// across its cached children.
const MAX_INTERNED = 64; // longer values (digests, messages) are rarely repeated

function internString(s: string): string {
  return s.length > MAX_INTERNED ? s : Object.keys({ [s]: 0 })[0]!;
}

/** Replaces, in place, every short string value of a JSON value by V8's shared copy of it. */
export function internStrings<T>(value: T): T {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = internStrings(value[i]);
  } else if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    for (const k in o) {
      const v = o[k];
      if (typeof v === 'string') o[k] = internString(v);
      else if (v !== null && typeof v === 'object') internStrings(v);
    }
  }
  return value;
}
