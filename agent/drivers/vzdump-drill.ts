import { mkdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { formatBytes } from '../../shared/size';
import { unlinkQuiet, writeFileAtomic } from '../durable-file';
import { vzdumpStateDir } from '../proxmox/reported';
import { commandText, type PveTool } from '../proxmox/tools';
import { lastLines } from './paths-lines';
import { outcomeFromProcess, type OperationOutcome } from './types';
import { failure, listBackups, pveOf, seconds, volumeType, type BackupVolume, type DrillOptions, type GuestType, type VzdumpCtx } from './vzdump-pve';

// The guest restore drill: the newest backup restored into a scratch VMID, optionally started and
// waited for, timed, and always destroyed. The time it measures (restore until the guest answers)
// is what the collector holds against the tier's RTO: the only measured restore time of a VM.
//
// What the commands rely on (proxmox/qemu-server @ e6352be6, proxmox/pve-container @ 94f55852):
// - `qmrestore ARCHIVE VMID --storage S --unique 1` (src/PVE/CLI/qmrestore.pm → API2/Qemu.pm
//   create_vm): --storage puts every disk there, --unique gives new MAC addresses. A VMID in use
//   is refused ("unable to restore VM N - VM N already exists on node 'X'", pve-cluster
//   check_vmid_unused) unless --force, which is never passed. A restore that fails leaves the VM
//   behind ("VM N state is NOT cleaned up") and one that is killed leaves it locked (`create`).
// - `pct restore VMID ARCHIVE --storage S --unique 1` (src/PVE/CLI/pct.pm restore → API2/LXC.pm
//   create_vm with restore => 1): the same refusal ("CT N already exists on node 'X'").
// - `qm start|stop|status|destroy`, `pct start|unlock|destroy`; `qm destroy N --purge 1
//   --destroy-unreferenced-disks 1 --skiplock 1` (skiplock: root only, for a killed restore's lock),
//   `pct destroy N --purge 1 --destroy-unreferenced-disks 1 --force 1` (force: stops it first).
// - `qm guest cmd N ping` / `network-get-interfaces` (QemuServer/Agent.pm): dies "QEMU guest agent
//   is not running" until the agent in the guest answers.
// The scratch VMID is never one in use (/cluster/resources), and a restore refused because the
// VMID was taken meanwhile leaves that guest alone. What a drill restored is recorded in the state
// directory first, so a drill cut short (kill -9, power loss) is cleaned up by the next one.

const TOOL: Record<GuestType, PveTool> = { qemu: 'qm', lxc: 'pct' };
const LABEL: Record<GuestType, string> = { qemu: 'VM', lxc: 'CT' };
const ALREADY_EXISTS = /\b(?:VM|CT) \d+ already exists on node\b/;
/** How many VMIDs taken between our look and the restore are skipped before giving up. */
const MAX_ATTEMPTS = 5;
const POLL_MS = 1000;

interface Resource {
  vmid: number;
  type: string;
  name?: string;
  status?: string;
}

interface Scratch {
  vmid: number;
  type: GuestType;
}

/** What the state directory remembers of a drill's scratch guest until it is destroyed. */
interface ScratchRecord extends Scratch {
  /** The restored guest's name (the original's, from the backup), to recognise it later. */
  name: string | null;
  volid: string;
  startedAt: string;
}

export async function restoreDrill(ctx: VzdumpCtx): Promise<OperationOutcome> {
  const drill = ctx.options.restoreDrill;
  if (!drill) {
    return failure(ctx, `no restoreDrill in job ${ctx.job.name}: set vzdump.restoreDrill: { vmids: "9900-9999", storage: … } to rehearse restoring VM ${ctx.options.vmid}`, { permanent: true });
  }
  return new Drill(ctx, drill).run();
}

class Drill {
  private readonly pve: ReturnType<typeof pveOf>;
  private readonly recordFile: string;

  constructor(private readonly ctx: VzdumpCtx, private readonly d: DrillOptions) {
    this.pve = pveOf(ctx);
    this.recordFile = join(vzdumpStateDir(this.pve.stateDir), 'drills', `${ctx.job.name}.json`);
  }

  async run(): Promise<OperationOutcome> {
    const problems: string[] = [];
    try {
      const leftover = await this.cleanLeftover();
      if (leftover) problems.push(leftover);
    } catch (err) {
      problems.push(`cannot check for a scratch guest left by an earlier drill: ${(err as Error).message}`);
    }
    const state: { scratch: Scratch | null } = { scratch: null };
    let outcome: OperationOutcome;
    try {
      outcome = await this.rehearse(state);
    } catch (err) {
      outcome = failure(this.ctx, (err as Error).message);
    }
    // Always, whatever happened: a scratch guest left behind is a bug.
    if (state.scratch) {
      const problem = await this.destroy(state.scratch);
      if (problem) problems.push(problem);
    }
    if (problems.length === 0) return outcome;
    const error = [outcome.status === 'success' ? null : outcome.error, ...problems].filter(Boolean).join('; ');
    return { ...outcome, status: 'failure', error };
  }

  /** Restores, starts, waits; `state.scratch` is set as soon as a guest of ours may exist. */
  private async rehearse(state: { scratch: Scratch | null }): Promise<OperationOutcome> {
    const { ctx, d } = this;
    const { vmid, storage } = ctx.options;
    const newest = (await listBackups(ctx)).pop();
    if (!newest) return failure(ctx, `no backup of VM ${vmid} on ${storage} to restore`);
    const v = newest.v;
    const type = volumeType(v);
    if (!type) return failure(ctx, `${v.volid}: cannot tell whether it holds a VM or a container`);
    const found = { snapshotId: v.volid, ...(typeof v.size === 'number' ? { bytesTotal: v.size } : {}) };
    const resources = await this.resources();
    const taken = new Set(resources.map((r) => r.vmid));
    const free: number[] = [];
    for (let id = d.vmids.from; id <= d.vmids.to && free.length < MAX_ATTEMPTS; id++) if (!taken.has(id)) free.push(id);
    if (free.length === 0) {
      return failure(ctx, `every VMID of restoreDrill.vmids (${d.vmids.text}) is in use: free one or widen the range; no guest was touched`, found);
    }
    const name = resources.find((r) => r.vmid === vmid)?.name ?? null;
    for (const id of free) {
      const restored = await this.restore(v, type, id, name);
      if (restored === 'taken') continue;
      // Ours from here on, whatever the restore did: destroyed afterwards if it exists.
      state.scratch = { vmid: id, type };
      if (restored.outcome.status !== 'success') return { ...restored.outcome, ...found };
      return { ...(await this.startAndWait(id, type, restored.t0)), ...found };
    }
    return failure(ctx, `each free VMID tried (${free.join(', ')}) was taken by another guest before the restore: no guest was touched`, found);
  }

  private async restore(v: BackupVolume, type: GuestType, id: number, name: string | null): Promise<'taken' | { outcome: OperationOutcome; t0: number }> {
    const { ctx, d } = this;
    const { tools } = this.pve.config;
    this.writeRecord({ vmid: id, type, name, volid: v.volid, startedAt: new Date().toISOString() });
    const argv = type === 'qemu'
      ? [tools.qmrestore, v.volid, String(id), '--storage', d.storage, '--unique', '1']
      : [tools.pct, 'restore', String(id), v.volid, '--storage', d.storage, '--unique', '1'];
    const size = typeof v.size === 'number' ? ` (${formatBytes(v.size)})` : '';
    ctx.tail.line(`[lifeline] restoring ${v.volid}${size} as ${LABEL[type]} ${id} on ${d.storage}`);
    const err = lastLines(4);
    const t0 = performance.now();
    const result = await ctx.exec(argv, { onStderr: err.push, env: { ...ctx.env, LC_ALL: 'C' } });
    const outcome = outcomeFromProcess(result);
    const said = err.lines();
    if (outcome.status === 'success') {
      ctx.tail.line(`[lifeline] restored in ${seconds(performance.now() - t0)}`);
      return { outcome, t0 };
    }
    if (outcome.status === 'failure' && said.some((l) => ALREADY_EXISTS.test(l))) {
      // Created by someone else between our look and the restore: not ours, never touched.
      this.removeRecord();
      ctx.tail.line(`[lifeline] VMID ${id} was taken meanwhile: left alone, trying the next free one`);
      return 'taken';
    }
    const tool = type === 'qemu' ? 'qmrestore' : 'pct restore';
    const why = outcome.status === 'timeout' ? outcome.error : (said.filter((l) => !/state is NOT cleaned up/.test(l)).pop() ?? outcome.error);
    return { outcome: { ...outcome, error: `${tool} of ${v.volid} into ${LABEL[type]} ${id}: ${why}` }, t0 };
  }

  /** Starts the copy and waits for it as configured; the measured time runs from the restore's start. */
  private async startAndWait(id: number, type: GuestType, t0: number): Promise<OperationOutcome> {
    const { ctx, d } = this;
    const ready = (what: string): OperationOutcome => {
      const ms = performance.now() - t0;
      ctx.tail.line(`[lifeline] ${LABEL[type]} ${id} ${what} ${seconds(ms)} after the restore began`);
      return { status: 'success', exitCode: 0, durationMs: Math.round(ms) };
    };
    if (!d.start) return ready('restored');
    // Booted with its network, a copy with a static address would claim the original's. Only a
    // port check needs the network: then the copy must get an address of its own.
    if (!d.wait || !('port' in d.wait)) await this.disconnect(id, type);
    await this.tool(TOOL[type], ['start', String(id)]);
    const deadline = performance.now() + d.timeout;
    if (!d.wait) return ready('started');
    if ('agent' in d.wait) {
      const pinged = await this.poll(deadline, async () => {
        await this.tool('qm', ['guest', 'cmd', String(id), 'ping'], { quiet: true });
        return true;
      });
      if (!('value' in pinged)) return this.notAnswering(id, type, 'its guest agent did not answer', pinged.last);
      return ready('answered its guest agent');
    }
    const { port } = d.wait;
    let host = d.wait.host;
    if (!host) {
      const address = await this.poll(deadline, () => this.agentAddress(id));
      if (!('value' in address)) return this.notAnswering(id, type, 'its guest agent reported no address to check the port on', address.last);
      host = address.value;
      ctx.tail.line(`[lifeline] the guest agent reports ${host}`);
    }
    const target = host;
    const open = await this.poll(deadline, () => tcpOpen(target, port, 2000));
    if (!('value' in open)) return this.notAnswering(id, type, `nothing answered on ${target}:${port}`, open.last);
    return ready(`answered on ${target}:${port}`);
  }

  private notAnswering(id: number, type: GuestType, what: string, last: string | null): OperationOutcome {
    if (this.ctx.signal?.aborted) return failure(this.ctx, `the agent is stopping: the drill of ${LABEL[type]} ${id} was cut short`);
    const why = last ? ` (last: ${last.replace(/^[^:]*failed \(exit code \d+\): /, '')})` : '';
    return failure(this.ctx, `${LABEL[type]} ${id} started, but ${what} within ${seconds(this.d.timeout)}${why}`);
  }

  /**
   * Calls `fn` every second until it returns a truthy value or the deadline passes (then the last
   * error's message, if any). Stops when the agent stops.
   */
  private async poll<T>(deadline: number, fn: () => Promise<T>): Promise<{ value: NonNullable<T> } | { last: string | null }> {
    let last: string | null = null;
    for (;;) {
      try {
        const v = await fn();
        if (v) return { value: v as NonNullable<T> };
      } catch (err) {
        last = (err as Error).message;
      }
      if (this.ctx.signal?.aborted || performance.now() + POLL_MS > deadline) return { last };
      await pause(POLL_MS, this.ctx.signal);
    }
  }

  /** The first IPv4 address (else IPv6) of a non-loopback interface, as the guest agent reports them. */
  private async agentAddress(id: number): Promise<string | null> {
    const { stdout } = await this.tool('qm', ['guest', 'cmd', String(id), 'network-get-interfaces'], { quiet: true });
    const ifaces = JSON.parse(stdout) as { name?: string; 'ip-addresses'?: { 'ip-address'?: string; 'ip-address-type'?: string }[] }[];
    const addrs = (Array.isArray(ifaces) ? ifaces : [])
      .filter((i) => i.name !== 'lo')
      .flatMap((i) => i['ip-addresses'] ?? [])
      .filter((a) => typeof a['ip-address'] === 'string' && !a['ip-address'].startsWith('fe80:'));
    return (addrs.find((a) => a['ip-address-type'] === 'ipv4') ?? addrs[0])?.['ip-address'] ?? null;
  }

  /** Sets link_down=1 on every network interface of the copy (`qm set` / `pct set`). */
  private async disconnect(id: number, type: GuestType): Promise<void> {
    const conf = await this.pve.tools.get<Record<string, unknown>>(`/nodes/${this.pve.config.node}/${type}/${id}/config`);
    const nets = Object.entries(conf ?? {}).filter((e): e is [string, string] => /^net\d+$/.test(e[0]) && typeof e[1] === 'string' && !/(?:^|,)link_down=1(?:,|$)/.test(e[1]));
    if (nets.length === 0) return;
    const args = nets.flatMap(([k, value]) => [`--${k}`, `${value.replace(/(?:^|,)link_down=\d(?=,|$)/, '')},link_down=1`]);
    await this.tool(TOOL[type], ['set', String(id), ...args]);
    this.ctx.tail.line(`[lifeline] ${LABEL[type]} ${id} starts with its network disconnected (link_down=1): the copy never answers on the original's address`);
  }

  /** Stops and destroys the scratch guest if it exists; a message when it could not be. */
  private async destroy(s: Scratch): Promise<string | null> {
    const { ctx } = this;
    const id = String(s.vmid);
    const byHand = s.type === 'qemu' ? `qm stop ${id}; qm destroy ${id} --purge 1 --skiplock 1` : `pct unlock ${id}; pct destroy ${id} --purge 1 --force 1`;
    try {
      const r = (await this.resources()).find((x) => x.vmid === s.vmid);
      if (!r) {
        this.removeRecord();
        return null; // the restore never created it (or removed it itself)
      }
      if (r.type !== s.type) return `VMID ${id} holds a ${r.type} guest, not the restored ${LABEL[s.type]}: left alone`;
      if (s.type === 'qemu') {
        const { stdout } = await this.tool('qm', ['status', id]);
        if (/status: running/.test(stdout)) await this.tool('qm', ['stop', id, '--skiplock', '1']);
        await this.tool('qm', ['destroy', id, '--purge', '1', '--destroy-unreferenced-disks', '1', '--skiplock', '1']);
      } else {
        // A restore cut short leaves the container locked (`create`); destroy refuses a locked one.
        await this.tool('pct', ['unlock', id]);
        await this.tool('pct', ['destroy', id, '--purge', '1', '--destroy-unreferenced-disks', '1', '--force', '1']);
      }
      this.removeRecord();
      ctx.tail.line(`[lifeline] scratch ${LABEL[s.type]} ${id} destroyed`);
      return null;
    } catch (err) {
      const why = (err as Error).message;
      ctx.tail.line(`[lifeline] cannot destroy scratch ${LABEL[s.type]} ${id}: ${why}`);
      return `the scratch ${LABEL[s.type]} ${id} is LEFT on ${this.pve.config.node} (it could not be destroyed: ${why}); destroy it by hand: ${byHand}`;
    }
  }

  /**
   * A scratch guest an earlier drill of this job recorded and never destroyed (the agent was
   * killed): destroyed if it is still the guest that drill restored, else left alone.
   */
  private async cleanLeftover(): Promise<string | null> {
    const rec = this.readRecord();
    if (!rec) return null;
    const r = (await this.resources()).find((x) => x.vmid === rec.vmid);
    if (!r) {
      this.removeRecord();
      return null;
    }
    if (r.type !== rec.type || (rec.name !== null && r.name !== undefined && r.name !== rec.name)) {
      this.ctx.tail.line(`[lifeline] VMID ${rec.vmid}, recorded by the drill of ${rec.startedAt}, is now another guest (${r.type} ${r.name ?? ''}): left alone`);
      this.removeRecord();
      return null;
    }
    this.ctx.tail.line(`[lifeline] ${LABEL[rec.type]} ${rec.vmid} is left from the drill of ${rec.startedAt}, which was cut short: destroying it`);
    return this.destroy(rec);
  }

  private resources(): Promise<Resource[]> {
    return this.pve.tools.get<Resource[]>('/cluster/resources', { type: 'vm' });
  }

  /** A qm/pct call, logged in the run's log with what it printed. */
  private async tool(tool: PveTool, args: string[], opts: { quiet?: boolean } = {}): Promise<{ stdout: string; stderr: string }> {
    if (!opts.quiet) this.ctx.tail.line(`[lifeline] ${commandText(tool, args)}`);
    const out = await this.pve.tools.run(tool, args);
    if (!opts.quiet) for (const text of [out.stdout, out.stderr]) if (text.trim()) this.ctx.tail.write(text.endsWith('\n') ? text : `${text}\n`);
    return out;
  }

  private readRecord(): ScratchRecord | null {
    try {
      const r = JSON.parse(readFileSync(this.recordFile, 'utf8')) as ScratchRecord;
      return Number.isInteger(r.vmid) && (r.type === 'qemu' || r.type === 'lxc') ? r : null;
    } catch {
      return null;
    }
  }

  private writeRecord(r: ScratchRecord): void {
    mkdirSync(dirname(this.recordFile), { recursive: true, mode: 0o700 });
    writeFileAtomic(this.recordFile, `${JSON.stringify(r)}\n`);
  }

  private removeRecord(): void {
    unlinkQuiet(this.recordFile);
  }
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function tcpOpen(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
