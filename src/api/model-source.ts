// What may be said about a model source outside the spec (status conditions, Events, the served
// model name): a URL without its credentials. A presigned download URL carries its signature in
// the query string, and userinfo is a password: both stay in spec.model.source, which only readers
// of the QwenService see, and never reach status, Events or metric labels. The same rule as the
// worker's logs (worker/src/model-source.ts redactUrl), written again here: src/ imports nothing
// of worker/.

/** `hf:` specs and plain paths as they are; a `scheme://` URL as scheme, host and path only. */
export function redactModelSource(source: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) return source;
  try {
    const u = new URL(source);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '<unparseable URL>';
  }
}
