// A fake Proxmox VE node for the proxmox provisioner's tests, over real HTTP(S). Every request is
// checked against the official API schema (pve-schema.ts) and the token header; anything wrong is
// recorded in `violations` (tests assert it stays empty) and answered 400 like PVE would.
// It keeps VMs and simulates tasks that finish `taskMs` after they start.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { PveValidator, loadPveSchema } from './pve-schema.js';

export interface FakeVm {
  vmid: number;
  name: string;
  status: 'stopped' | 'running';
  template: boolean;
  config: Record<string, string | number>;
}

interface Task {
  upid: string;
  type: string;
  id: string;
  doneAt: number;
  exitstatus: string;
  log: string[];
  applied: boolean;
  apply: () => void;
}

export interface RecordedRequest {
  method: string;
  path: string;
  template: string | null;
  params: Record<string, string>;
}

export interface FakePveOptions {
  node?: string;
  tokenId?: string;
  tokenSecret?: string;
  templateVmid?: number;
  /** Task duration. */
  taskMs?: number;
  tls?: { key: string; cert: string };
}

export class FakePve {
  readonly node: string;
  readonly tokenId: string;
  readonly tokenSecret: string;
  readonly vms = new Map<number, FakeVm>();
  readonly tasks = new Map<string, Task>();
  readonly requests: RecordedRequest[] = [];
  readonly violations: string[] = [];
  /** Set to an exit status to make the next clone task fail with it. */
  failNextClone: string | null = null;
  /** The guest agent answers "not running" this many times per VM after start. */
  guestAgentLateCalls = 0;
  /** Called before each request is handled (tests simulate crashes here). */
  onRequest: ((r: RecordedRequest) => void) | null = null;
  private readonly guestCalls = new Map<number, number>();
  private readonly validator = new PveValidator(loadPveSchema());
  private readonly taskMs: number;
  private taskSeq = 0;
  private server!: http.Server;
  url = '';

  constructor(opts: FakePveOptions = {}) {
    this.node = opts.node ?? 'pve1';
    this.tokenId = opts.tokenId ?? 'dc-agent@pve!provisioning';
    this.tokenSecret = opts.tokenSecret ?? '8d2f4c1e-1111-2222-3333-444455556666';
    this.taskMs = opts.taskMs ?? 20;
    const t = opts.templateVmid ?? 9000;
    this.vms.set(t, {
      vmid: t,
      name: 'debian-12-cloudinit',
      status: 'stopped',
      template: true,
      config: { name: 'debian-12-cloudinit', template: 1, cores: 1, memory: '1024', scsi0: `local-lvm:base-${t}-disk-0,size=4G`, net0: 'virtio=BC:24:11:00:00:01,bridge=vmbr0', ide2: 'local-lvm:vm-9000-cloudinit,media=cdrom' },
    });
    this.tlsOpts = opts.tls ?? null;
  }
  private readonly tlsOpts: { key: string; cert: string } | null;

  async listen(): Promise<string> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.handle(req, res);
    this.server = this.tlsOpts ? https.createServer(this.tlsOpts, handler) : http.createServer(handler);
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `${this.tlsOpts ? 'https' : 'http'}://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections?.();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** VMs that are not templates. */
  guests(): FakeVm[] {
    return [...this.vms.values()].filter((v) => !v.template);
  }

  count(method: string, template: string): number {
    return this.requests.filter((r) => r.method === method && r.template === template).length;
  }

  // ---- plumbing -------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    const send = (status: number, data: unknown, message?: string, errors?: Record<string, string>) => {
      res.statusCode = status;
      if (message) res.statusMessage = message;
      res.setHeader('content-type', 'application/json;charset=UTF-8');
      res.end(JSON.stringify(errors ? { data, errors } : { data }));
    };
    if (req.headers.authorization !== `PVEAPIToken=${this.tokenId}=${this.tokenSecret}`) {
      this.violations.push(`${method} ${url.pathname}: bad Authorization header ${JSON.stringify(req.headers.authorization)}`);
      return send(401, null, 'authentication failure');
    }
    if (!url.pathname.startsWith('/api2/json/')) {
      this.violations.push(`${method} ${url.pathname}: not under /api2/json`);
      return send(404, null, 'Not Found');
    }
    const params: Record<string, string> = {};
    for (const [k, v] of url.searchParams) params[k] = v;
    if (method === 'POST' || method === 'PUT') {
      if (url.search) this.violations.push(`${method} ${url.pathname}: parameters in the query string of a ${method}`);
      if (body && !String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
        this.violations.push(`${method} ${url.pathname}: body is not form-encoded (${req.headers['content-type']})`);
      }
      for (const [k, v] of new URLSearchParams(body)) params[k] = v;
    } else if (body) {
      this.violations.push(`${method} ${url.pathname}: ${method} with a body`);
    }
    const path = url.pathname.slice('/api2/json'.length);
    const { match, problems } = this.validator.validate(method, path, params);
    const rec: RecordedRequest = { method, path, template: match?.template ?? null, params: { ...params, ...(match?.pathParams ?? {}) } };
    this.requests.push(rec);
    if (problems.length > 0) {
      this.violations.push(...problems);
      return send(400, null, 'Parameter verification failed.', Object.fromEntries(problems.map((p, i) => [`p${i}`, p])));
    }
    this.onRequest?.(rec);
    this.tick();
    try {
      const [status, data, message] = this.route(method, match!.template, rec.params);
      send(status, data, message);
    } catch (err) {
      send(500, null, (err as Error).message);
    }
  }

  /** Finishes tasks whose time has come. */
  private tick(): void {
    const now = Date.now();
    for (const t of this.tasks.values()) {
      if (!t.applied && t.doneAt <= now) {
        t.applied = true;
        t.apply();
      }
    }
  }

  private task(type: string, id: string, apply: () => void, exitstatus = 'OK', log: string[] = []): string {
    const hex = (n: number) => n.toString(16).toUpperCase().padStart(8, '0');
    const now = Math.floor(Date.now() / 1000);
    const upid = `UPID:${this.node}:${hex(1000 + ++this.taskSeq)}:${hex(this.taskSeq * 7)}:${hex(now)}:${type}:${id}:${this.tokenId}:`;
    this.tasks.set(upid, { upid, type, id, doneAt: Date.now() + this.taskMs, exitstatus, log: [`starting ${type} ${id}`, ...log, exitstatus === 'OK' ? 'TASK OK' : `TASK ERROR: ${exitstatus}`], applied: false, apply });
    return upid;
  }

  private vm(p: Record<string, string>): FakeVm {
    const vm = this.vms.get(Number(p.vmid));
    if (!vm || p.node !== this.node) throw new Error(`Configuration file 'nodes/${p.node}/qemu-server/${p.vmid}.conf' does not exist`);
    return vm;
  }

  private route(method: string, template: string, p: Record<string, string>): [number, unknown, string?] {
    const key = `${method} ${template}`;
    switch (key) {
      case 'GET /version':
        return [200, { version: '8.2.4', release: '8.2', repoid: 'faa83925' }];
      case 'GET /cluster/nextid': {
        if (p.vmid) {
          if (this.vms.has(Number(p.vmid))) return [400, null, `VM ${p.vmid} already exists`];
          return [200, p.vmid];
        }
        let id = 100;
        while (this.vms.has(id)) id++;
        return [200, String(id)];
      }
      case 'GET /nodes/{node}/qemu':
        return [200, [...this.vms.values()].map((v) => ({ vmid: v.vmid, name: v.name, status: v.status, ...(v.config.tags ? { tags: v.config.tags } : {}), ...(v.template ? { template: 1 } : {}) }))];
      case 'GET /nodes/{node}/qemu/{vmid}/config': {
        const vm = this.vm(p);
        return [200, { ...vm.config, digest: 'f'.repeat(40) }];
      }
      case 'POST /nodes/{node}/qemu/{vmid}/clone': {
        const src = this.vm(p);
        const newid = Number(p.newid);
        if (!src.template && p.full !== '1') return [500, null, 'linked clones need a template'];
        if (this.vms.has(newid)) return [500, null, `unable to create VM ${newid}: config file already exists`];
        const failure = this.failNextClone;
        this.failNextClone = null;
        const vm: FakeVm = {
          vmid: newid,
          name: p.name ?? `Copy-of-VM-${src.name}`,
          status: 'stopped',
          template: false,
          config: { ...src.config, name: p.name ?? `Copy-of-VM-${src.name}`, lock: 'clone', ...(p.description ? { description: p.description } : {}) },
        };
        delete vm.config.template;
        vm.config.scsi0 = String(src.config.scsi0).replace(/base-\d+-disk-0/, `vm-${newid}-disk-0`);
        this.vms.set(newid, vm);
        return [
          200,
          this.task(
            'qmclone',
            String(src.vmid),
            () => {
              delete vm.config.lock;
            },
            failure ?? 'OK',
            failure ? ['create full clone of drive scsi0 (local-lvm:base-9000-disk-0)', failure] : ['create full clone of drive scsi0'],
          ),
        ];
      }
      case 'POST /nodes/{node}/qemu/{vmid}/config': {
        const vm = this.vm(p);
        if (vm.config.lock) return [500, null, `VM is locked (${vm.config.lock})`];
        const { node: _n, vmid: _v, ...settings } = p;
        return [200, this.task('qmconfig', String(vm.vmid), () => Object.assign(vm.config, settings))];
      }
      case 'PUT /nodes/{node}/qemu/{vmid}/resize': {
        const vm = this.vm(p);
        if (vm.config.lock) return [500, null, `VM is locked (${vm.config.lock})`];
        const disk = String(vm.config[p.disk!] ?? '');
        if (!disk) return [500, null, `disk '${p.disk}' does not exist`];
        return [200, this.task('resize', String(vm.vmid), () => (vm.config[p.disk!] = disk.replace(/size=[^,]+/, `size=${p.size}`)))];
      }
      case 'GET /nodes/{node}/qemu/{vmid}/status/current': {
        const vm = this.vm(p);
        return [200, { vmid: vm.vmid, name: vm.name, status: vm.status, qmpstatus: vm.status, ...(vm.config.lock ? { lock: vm.config.lock } : {}) }];
      }
      case 'POST /nodes/{node}/qemu/{vmid}/status/start': {
        const vm = this.vm(p);
        if (vm.config.lock) return [500, null, `VM is locked (${vm.config.lock})`];
        return [200, this.task('qmstart', String(vm.vmid), () => ((vm.status = 'running'), this.guestCalls.set(vm.vmid, 0)))];
      }
      case 'POST /nodes/{node}/qemu/{vmid}/status/stop': {
        const vm = this.vm(p);
        return [200, this.task('qmstop', String(vm.vmid), () => (vm.status = 'stopped'))];
      }
      case 'DELETE /nodes/{node}/qemu/{vmid}': {
        const vm = this.vm(p);
        if (vm.status === 'running') return [500, null, `VM ${vm.vmid} is running - destroy failed`];
        if (vm.config.lock) return [500, null, `VM is locked (${vm.config.lock})`];
        return [200, this.task('qmdestroy', String(vm.vmid), () => this.vms.delete(vm.vmid))];
      }
      case 'GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces': {
        const vm = this.vm(p);
        if (vm.status !== 'running') return [500, null, `VM ${vm.vmid} is not running`];
        const n = this.guestCalls.get(vm.vmid) ?? 0;
        this.guestCalls.set(vm.vmid, n + 1);
        if (n < this.guestAgentLateCalls) return [500, null, 'QEMU guest agent is not running'];
        return [
          200,
          {
            result: [
              { name: 'lo', 'hardware-address': '00:00:00:00:00:00', 'ip-addresses': [{ 'ip-address': '127.0.0.1', 'ip-address-type': 'ipv4', prefix: 8 }, { 'ip-address': '::1', 'ip-address-type': 'ipv6', prefix: 128 }] },
              {
                name: 'eth0',
                'hardware-address': 'bc:24:11:00:00:02',
                'ip-addresses': [
                  { 'ip-address': `10.0.0.${vm.vmid % 250}`, 'ip-address-type': 'ipv4', prefix: 24 },
                  { 'ip-address': 'fe80::be24:11ff:fe00:2', 'ip-address-type': 'ipv6', prefix: 64 },
                  { 'ip-address': `2001:db8::${vm.vmid.toString(16)}`, 'ip-address-type': 'ipv6', prefix: 64 },
                ],
              },
            ],
          },
        ];
      }
      case 'GET /nodes/{node}/tasks/{upid}/status': {
        const t = this.tasks.get(p.upid!);
        if (!t) return [500, null, `no such task`];
        const done = t.applied;
        return [200, { upid: t.upid, node: this.node, pid: 1000, pstart: 1, starttime: 1, type: t.type, id: t.id, user: this.tokenId, status: done ? 'stopped' : 'running', ...(done ? { exitstatus: t.exitstatus } : {}) }];
      }
      case 'GET /nodes/{node}/tasks/{upid}/log': {
        const t = this.tasks.get(p.upid!);
        if (!t) return [500, null, `no such task`];
        return [200, t.log.map((l, i) => ({ n: i + 1, t: l }))];
      }
      default:
        return [501, null, `the fake does not implement ${key}`];
    }
  }
}
