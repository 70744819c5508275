import { visibleText } from '../../shared/display-text';
import type { AgentConfig } from '../config';
import { assetOf, guestSnapshots, localGuests, readSnapshots, type PveResource } from './discovery';
import { commandText, pveTools, type PveTools } from './tools';

// `lifeline-agent snapshot VMID [--note TEXT]` and `lifeline-agent snapshots [--json]`: guest
// snapshots taken before a risky change and listed so none is forgotten. A snapshot lives on
// the guest's own disks: it is never a backup (ADR-003), and an old one costs space and speed.

const EXIT = { ok: 0, failed: 1, usage: 2 } as const;
const SNAPNAME = /^[a-z][a-z0-9_-]+$/i;
const RESERVED = new Set(['current', 'pending']);

export interface Out {
  out(text: string): void;
  err(text: string): void;
}
const stdio: Out = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * A snapshot name PVE accepts (pve-configid: a letter, then letters, digits, "_" or "-", at
 * most 40; not `current` or `pending`) saying when it was taken, local time to the minute:
 * `lifeline-2026-11-29-0200`, then `-2`, `-3`… when that name is taken.
 */
export function snapshotName(at: Date, taken: ReadonlySet<string>): string {
  const base = `lifeline-${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}-${pad(at.getHours())}${pad(at.getMinutes())}`;
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
  if (name.length > 40 || !SNAPNAME.test(name) || RESERVED.has(name)) throw new Error(`internal error: ${name} is no valid snapshot name`);
  return name;
}

/** "3d 4h", "5h 12m", "7m", "0m": how long ago, to the two largest units. */
export function ageText(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  return `${m}m`;
}

function localMinute(iso: string): string {
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function needsProxmox(config: AgentConfig, command: string, io: Out): config is AgentConfig & { proxmox: NonNullable<AgentConfig['proxmox']> } {
  if (config.proxmox) return true;
  io.err(`${command} works on a Proxmox VE node: add a proxmox: section to ${config.file}\n`);
  return false;
}

export async function snapshotCommand(config: AgentConfig, vmidText: string, note: string | undefined, opts: { tools?: PveTools; now?: Date; io?: Out } = {}): Promise<number> {
  const io = opts.io ?? stdio;
  if (!needsProxmox(config, 'snapshot', io)) return EXIT.usage;
  if (!/^[1-9]\d{2,8}$/.test(vmidText)) {
    io.err(`snapshot needs a VMID (100 to 999999999), not ${JSON.stringify(vmidText)}\n`);
    return EXIT.usage;
  }
  const vmid = Number(vmidText);
  const { node } = config.proxmox;
  const tools = opts.tools ?? pveTools(config.proxmox);
  try {
    const guest = (await tools.get<PveResource[]>('/cluster/resources', { type: 'vm' })).find((r) => r.vmid === vmid && (r.type === 'qemu' || r.type === 'lxc'));
    if (!guest) {
      io.err(`no guest ${vmid} in this cluster\n`);
      return EXIT.usage;
    }
    const asset = assetOf(guest.type, vmid);
    const label = `${asset}${guest.name ? ` (${visibleText(guest.name)})` : ''}`;
    if (guest.node !== node) {
      io.err(`${label} runs on node ${guest.node}, not ${node}: take its snapshot there\n`);
      return EXIT.usage;
    }
    if (guest.template === 1 || guest.template === true) {
      io.err(`${label} is a template: PVE takes no snapshots of templates\n`);
      return EXIT.usage;
    }
    const existing = await tools.get<{ name: string }[]>(`/nodes/${node}/${guest.type}/${vmid}/snapshot`);
    const name = snapshotName(opts.now ?? new Date(), new Set(existing.map((s) => s.name)));
    const tool = guest.type === 'lxc' ? 'pct' : 'qm';
    const args = ['snapshot', String(vmid), name, '--description', note ?? 'taken with lifeline-agent snapshot'];
    const { stdout } = await tools.run(tool, args);
    for (const line of stdout.split('\n').filter((l) => l.trim())) io.out(`  ${line}\n`);
    io.out(`took snapshot ${name} of ${label}: ${commandText(tool, args)}\n`);
    io.out(`a snapshot is no backup: remove it once the change is done (${tool} delsnapshot ${vmid} ${name})\n`);
    return EXIT.ok;
  } catch (err) {
    io.err(`snapshot of guest ${vmid} failed: ${(err as Error).message}\n`);
    return EXIT.failed;
  }
}

export interface SnapshotRow {
  asset: string;
  vmid: number;
  type: 'qemu' | 'lxc';
  guest: string | null;
  snapshot: string;
  /** null: PVE does not know when it was taken (snaptime 0). */
  time: string | null;
  ageSeconds: number | null;
  description: string;
}

/** Every snapshot of this node's guests, oldest first (unknown times first: they are the oldest kind), without `current`. */
export async function snapshotsCommand(config: AgentConfig, json: boolean, opts: { tools?: PveTools; now?: number; io?: Out } = {}): Promise<number> {
  const io = opts.io ?? stdio;
  if (!needsProxmox(config, 'snapshots', io)) return EXIT.usage;
  const { node } = config.proxmox;
  const tools = opts.tools ?? pveTools(config.proxmox);
  const now = opts.now ?? Date.now();
  const notes: string[] = [];
  let rows: SnapshotRow[];
  try {
    const resources = await tools.get<PveResource[]>('/cluster/resources', { type: 'vm' });
    const lists = await readSnapshots(node, tools, resources, notes);
    rows = localGuests(resources, node).flatMap((g) =>
      guestSnapshots(lists.get(g.vmid) ?? []).map((s) => ({
        asset: assetOf(g.type, g.vmid),
        vmid: g.vmid,
        type: g.type as 'qemu' | 'lxc',
        guest: g.name ?? null,
        snapshot: s.name,
        time: s.time,
        ageSeconds: s.time === null ? null : Math.floor((now - Date.parse(s.time)) / 1000),
        description: s.description ?? '',
      })),
    );
  } catch (err) {
    io.err(`cannot list the guests: ${(err as Error).message}\n`);
    return EXIT.failed;
  }
  rows.sort((a, b) => (a.time === null ? -1 : b.time === null ? 1 : a.time.localeCompare(b.time)) || a.vmid - b.vmid || a.snapshot.localeCompare(b.snapshot));
  for (const n of notes) io.err(`${n}\n`);
  if (json) {
    io.out(`${JSON.stringify(rows, null, 2)}\n`);
    return notes.length ? EXIT.failed : EXIT.ok;
  }
  if (rows.length === 0) {
    io.out(`no guest snapshots on ${node}\n`);
    return notes.length ? EXIT.failed : EXIT.ok;
  }
  const table = [['GUEST', 'NAME', 'SNAPSHOT', 'TAKEN', 'AGE', 'DESCRIPTION']];
  for (const r of rows) {
    // Names and descriptions are whatever was typed into Proxmox: shown, never obeyed by the terminal.
    table.push([r.asset, visibleText(r.guest ?? '-'), r.snapshot, r.time ? localMinute(r.time) : 'unknown', r.ageSeconds === null ? '?' : ageText(r.ageSeconds), visibleText(r.description)]);
  }
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  for (const r of table) io.out(`${r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()}\n`);
  io.out(`${rows.length} snapshot(s) on ${node}; a snapshot is no backup: delete each once its change is done\n`);
  return notes.length ? EXIT.failed : EXIT.ok;
}
