// The load of the other router replicas, for KEDA: KEDA asks one replica (through the router's Service),
// so that replica's answer must include the requests held at every other one, or a request waiting at a
// replica KEDA does not ask would never wake the workers. Each replica polls its peers' PEER_LOAD_PATH
// (found through the router's own headless Service) about every second.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { z } from 'zod';
import { PEER_LOAD_PATH } from './contract.ts';
import type { Endpoint, EndpointSource } from './endpoints.ts';
import { endpointSliceSource, type PortRef } from './endpoint-slices.ts';
import type { Load } from './load.ts';

const peerLoadSchema = z.object({ inFlight: z.number().int().nonnegative(), held: z.number().int().nonnegative() });

/** What is known of one peer: its last answer and when it came. */
export type PeerState = { load: Load; answeredAt: number };

/**
 * The sum of the peers' loads at `now`. A peer that stopped answering (a slow poll, a restart, or it
 * left the Service while draining) still counts with its last answer for `staleMs`, so one missed poll
 * does not flip KEDA to idle; past that it counts 0, so a dead peer cannot keep the workers up.
 */
export function sumPeerLoads(peers: Iterable<PeerState>, now: number, staleMs: number): Load {
  const total = { inFlight: 0, held: 0 };
  for (const p of peers) {
    if (now - p.answeredAt > staleMs) continue;
    total.inFlight += p.load.inFlight;
    total.held += p.load.held;
  }
  return total;
}

export type PeerLoadsOptions = {
  /** The router replicas; each endpoint's url is a replica's admin port. */
  source: EndpointSource;
  /** This replica's address (POD_IP): its own endpoint is skipped, its load is counted locally. */
  selfAddress?: string;
  pollMs?: number;
  /** How long a silent peer keeps counting its last answer. */
  staleMs?: number;
  /** Per-request limit of one poll. */
  timeoutMs?: number;
  log?: Logger;
};

/** The peers' loads, polled; the external scaler adds its own replica's LoadCounter. */
export interface PeerLoads {
  /** The peers' summed load now (this replica excluded). */
  total(): Load;
  /** Polls every peer now (joins a poll already running); resolves when the answers are in. */
  refresh(): Promise<void>;
  /** Called after a poll that changed the peers' total. */
  subscribe(onChange: () => void): () => void;
  close(): void;
}

const hostOf = (e: Endpoint) => new URL(e.url).hostname.replace(/^\[|\]$/g, '');

export function pollPeerLoads(opts: PeerLoadsOptions): PeerLoads {
  const { source, selfAddress, log } = opts;
  const pollMs = opts.pollMs ?? 1000;
  const staleMs = opts.staleMs ?? 5000;
  const timeoutMs = opts.timeoutMs ?? Math.min(800, pollMs);
  const states = new Map<string, PeerState>();
  const listeners = new Set<() => void>();
  let running: Promise<void> | undefined;
  let lastKey = '0/0';
  let closed = false;

  const total = () => sumPeerLoads(states.values(), Date.now(), staleMs);

  const ask = async (peer: Endpoint): Promise<void> => {
    try {
      const res = await fetch(`${peer.url}${PEER_LOAD_PATH}`, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      states.set(peer.id, { load: peerLoadSchema.parse(await res.json()), answeredAt: Date.now() });
    } catch (err) {
      log?.debug({ peer: peer.id, err: String(err) }, 'peer load poll failed');
    }
  };

  const poll = async (): Promise<void> => {
    const peers = source.current().filter((e) => hostOf(e) !== selfAddress);
    await Promise.all(peers.map(ask));
    // Forget peers gone for longer than staleMs (they already count 0).
    const now = Date.now();
    for (const [id, s] of states) if (now - s.answeredAt > staleMs) states.delete(id);
    const t = total();
    const key = `${t.inFlight}/${t.held}`;
    if (key !== lastKey && !closed) {
      lastKey = key;
      for (const l of listeners) l();
    }
  };

  const refresh = (): Promise<void> => {
    running ??= poll().finally(() => { running = undefined; });
    return running;
  };

  const timer = setInterval(() => { void refresh(); }, pollMs);
  timer.unref();
  void refresh();

  return {
    total,
    refresh,
    subscribe(onChange) {
      listeners.add(onChange);
      return () => listeners.delete(onChange);
    },
    close() {
      closed = true;
      clearInterval(timer);
      listeners.clear();
    },
  };
}

export type PeersFromServiceOptions = {
  kubeConfig: KubeConfig;
  namespace: string;
  /** The router's own headless Service (`--peers-service`). */
  service: string;
  /** The admin port in its EndpointSlices, by name or number. */
  adminPort: PortRef;
  /** This pod's IP; defaults to the POD_IP environment variable (the Downward API). */
  selfAddress?: string;
  log?: Logger;
};

/** The peers' loads, found through the router's own Service; close() stops the poll and the watch. */
export function peersFromService(opts: PeersFromServiceOptions): PeerLoads {
  const source = endpointSliceSource({ kubeConfig: opts.kubeConfig, namespace: opts.namespace, service: opts.service, port: opts.adminPort, log: opts.log });
  const peers = pollPeerLoads({ source, selfAddress: opts.selfAddress ?? process.env.POD_IP, log: opts.log });
  return { ...peers, close() { peers.close(); source.close(); } };
}
