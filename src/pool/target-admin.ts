// A target's declared state (SPEC §11): what operators set through the admin API, shared by a
// fleet in the state store. Pure: names, ids and the shape of the shared document.

/**
 * HAProxy's `set server … state`: `ready` is in rotation; `drain` takes no new requests while
 * in-flight requests and tunnels finish (health checks go on); `maint` also stops checks.
 */
export type AdminState = 'ready' | 'drain' | 'maint';
export const ADMIN_STATES: readonly AdminState[] = ['ready', 'drain', 'maint'];

/** Where a target came from: the config file, the admin API, DNS discovery (SPEC §12). */
export type TargetSource = 'config' | 'api' | 'dns';

export const DEFAULT_TARGET_WEIGHT = 100;
export const MIN_TARGET_WEIGHT = 1;
export const MAX_TARGET_WEIGHT = 1000;

/**
 * What the store holds for one target. Only what differs from the file is kept: a config
 * target with no entry is `ready` at weight 100. `url` marks a target the API added
 * (`source: api`); `removed` one the API deleted (it drains, then leaves the live set, and a
 * reload does not bring it back until it is added again).
 */
export interface TargetOverride {
  url?: string;
  state?: AdminState;
  weight?: number;
  removed?: boolean;
}

/**
 * The shared document of every pool's target overrides: compare-and-set on `revision` like the
 * routing state (SPEC §7), its own revision sequence (the ETag of `/pools/:pool/targets`).
 */
export interface TargetsState {
  revision: number;
  /** pool name → target id → override. */
  pools: Record<string, Record<string, TargetOverride>>;
  updatedAt: string;
  updatedBy: string;
}

export function emptyTargetsState(): TargetsState {
  return { revision: 0, pools: {}, updatedAt: new Date(0).toISOString(), updatedBy: 'initial' };
}

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };

/**
 * A target's id: its origin's `host:port`, the port always written (`http://a` → `a:80`),
 * IPv6 in brackets (`[::1]:3001`). Throws TypeError for text that is not a URL.
 */
export function targetId(url: string | URL): string {
  const parsed = typeof url === 'string' ? new URL(url) : url;
  return `${parsed.hostname}:${parsed.port === '' ? DEFAULT_PORTS[parsed.protocol] ?? '' : parsed.port}`;
}

/** A well-formed id (`host:port`, IPv6 bracketed, port 1..65535): what the admin routes accept in a path. */
export const TARGET_ID = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):(?:[1-9]\d{0,4})$/;

export function isTargetId(text: string): boolean {
  if (!TARGET_ID.test(text)) return false;
  return Number(text.slice(text.lastIndexOf(':') + 1)) <= 65535;
}
