// spec.auth as a volume for whichever pod checks the keys (the workers; the router with spec.router):
// the single-key form as one file `<dir>/keys`, the named form (spec.auth.apiKeys) as the whole
// Secret — one file per tenant — with --api-key-file naming the directory. Mounted as a directory,
// never through subPath, so the kubelet's atomic updates of a rotated Secret reach the reader.
// The operator only names the Secret; the kubelet reads it (the operator has no Secret access).
import type { QwenService } from '../api/qwenservice.ts';

/** The file of the single-key form inside the mount. */
export const API_KEY_FILE_NAME = 'keys';
/** Owner and group (fsGroup) read, nobody else: the non-root reader reads it through its group. */
const API_KEY_MODE = 0o440;

/** The volume, its mount at `dir`, and the --api-key-file value; undefined without spec.auth. */
export function apiKeyVolume(qs: QwenService, dir: string): { volume: unknown; mount: unknown; path: string } | undefined {
  const key = qs.spec.auth?.apiKey?.secretKeyRef;
  const named = qs.spec.auth?.apiKeys?.secretRef;
  const mount = { name: 'api-key', mountPath: dir, readOnly: true };
  if (named) return { volume: { name: 'api-key', secret: { secretName: named.name, defaultMode: API_KEY_MODE } }, mount, path: dir };
  if (key) return { volume: { name: 'api-key', secret: { secretName: key.name, items: [{ key: key.key, path: API_KEY_FILE_NAME }], defaultMode: API_KEY_MODE } }, mount, path: `${dir}/${API_KEY_FILE_NAME}` };
  return undefined;
}
